"""tools/analysis/gpu_check.py --smoke: the GPU check at tiny sizes on the CPU (bf16
autocast through the same --amp switch), so the script a lent GPU runs cannot rot:
every training case (UperNet, Mask R-CNN, classifier; with_cp and channels_last on and
off) and every backbone case runs, with finite losses, one table and a JSON record."""
import json
import sys

import pytest
import torch

from ..conftest import run_tool, run_tool_failing, tool_env


def test_gpu_check_smoke(tmp_path):
    out, record = tmp_path / 'table.md', tmp_path / 'rows.json'
    log = run_tool([sys.executable, 'tools/analysis/gpu_check.py', '--smoke', '--out', str(out), '--json',
                    str(record)], tool_env(), timeout=600)
    rows = json.loads(record.read_text())['rows']
    train = [r for r in rows if r['kind'] == 'train']
    assert len(train) == 12 and not any('skipped' in r for r in train)
    assert {(r['what'], r['with_cp'], r['channels_last']) for r in train} == {
        (m, cp, cl) for m in ('UperNet', 'Mask R-CNN', 'classifier') for cp in (False, True) for cl in (False, True)}
    assert all(r['finite'] and r['precision'] == 'amp bfloat16' and r['value'] > 0 for r in train)
    ours = [r for r in rows if r['kind'] == 'backbone' and r['what'] == 'mmconvnext']
    assert len(ours) == 8 and all(r['finite'] and r['value'] > 0 for r in ours)
    assert {(r['mode'], r['precision']) for r in ours} == {(m, p) for m in ('fwd', 'fwd+bwd')
                                                          for p in ('fp32', 'amp bfloat16')}
    table = out.read_text()
    assert table.startswith('gpu_check --smoke: ') and '| train step | Mask R-CNN | yes | yes | amp bfloat16 |' in table
    assert table.strip() in log.replace('\r', '')


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message given without a GPU')
def test_gpu_check_without_a_gpu_needs_smoke():
    stderr = run_tool_failing([sys.executable, 'tools/analysis/gpu_check.py'], tool_env())
    assert 'no CUDA device' in stderr and '--smoke' in stderr
