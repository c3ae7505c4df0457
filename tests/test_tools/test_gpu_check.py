"""tools/analysis/gpu_check.py --smoke: the GPU check at tiny sizes on the CPU (bf16
autocast through the same --amp switch), so the script a lent GPU runs cannot rot:
every training case (UperNet, Mask R-CNN, classifier; with_cp and channels_last on and
off) and every backbone case runs, with finite losses, one table and a JSON record.
With the optional peers installed (``.peers``, as test_parity uses them) the timm and
mmpretrain backbone rows run too; without them they are listed as skipped."""

import json
import os
import sys

import pytest
import torch

from mmconvnext.analysis.results import load_results

from ..conftest import ROOT, run_tool, run_tool_failing, tool_env

PEERS, STUB = ROOT / '.peers', ROOT / 'tools' / 'peers' / 'stub'
HAVE_PEERS = (PEERS / 'timm').is_dir() and (PEERS / 'mmpretrain').is_dir() and STUB.is_dir()


def test_gpu_check_smoke(tmp_path):
    out, record = tmp_path / 'table.md', tmp_path / 'rows.json'
    env = tool_env(PYTHONPATH=os.pathsep.join([str(PEERS), str(STUB), str(ROOT)])) if HAVE_PEERS else tool_env()
    log = run_tool(
        [sys.executable, 'tools/analysis/gpu_check.py', '--smoke', '--threads', '1']
        + ['--out', str(out), '--json', str(record), '--results', str(tmp_path / 'results.json')],
        env,
        timeout=600,
    )
    rows = json.loads(record.read_text())['rows']
    results = load_results(str(tmp_path / 'results.json'))  # the table as a results file, with machine and command
    assert '--smoke' in results['meta']['command'] and len(results['rows']) == len(rows)
    train = [r for r in rows if r['kind'] == 'train']
    assert len(train) == 12 and not any('skipped' in r for r in train)
    assert {(r['what'], r['with_cp'], r['channels_last']) for r in train} == {
        (m, cp, cl) for m in ('UperNet', 'Mask R-CNN', 'classifier') for cp in (False, True) for cl in (False, True)
    }
    assert all(r['finite'] and r['precision'] == 'amp bfloat16' and r['value'] > 0 for r in train)
    ours = [r for r in rows if r['kind'] == 'backbone' and r['what'] == 'mmconvnext']
    assert len(ours) == 8 and all(r['finite'] and r['value'] > 0 for r in ours)
    assert {(r['mode'], r['precision']) for r in ours} == {
        (m, p) for m in ('fwd', 'fwd+bwd') for p in ('fp32', 'amp bfloat16')
    }
    for peer in ('timm', 'mmpretrain'):
        theirs = [r for r in rows if r['kind'] == 'backbone' and r['what'] == peer]
        if HAVE_PEERS:
            assert len(theirs) == 8 and all(r['finite'] and r['ours_vs_it'] > 0 for r in theirs)
        else:
            assert len(theirs) == 1 and 'skipped' in theirs[0]
    table = out.read_text()
    assert table.startswith('gpu_check --smoke: ') and '| train step | Mask R-CNN | yes | yes | amp bfloat16 |' in table
    assert table.strip() in log.replace('\r', '')


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message given without a GPU')
def test_gpu_check_without_a_gpu_needs_smoke():
    stderr = run_tool_failing([sys.executable, 'tools/analysis/gpu_check.py'], tool_env())
    assert 'no CUDA device' in stderr and '--smoke' in stderr
