"""tools/analysis/benchmark.py runs end to end (tiny settings; the real numbers are in
docs/benchmarks.md): matmul rates, the backbone table with ratios, a training-step
case with its peak memory, and the JSON record."""

import json
import sys

from ..conftest import run_tool, tool_env


def test_benchmark_prints_ratios_and_writes_json(tmp_path):
    out = tmp_path / 'bench.json'
    log = run_tool(
        [
            sys.executable,
            'tools/analysis/benchmark.py',
            '--arch',
            'atto',
            '--batch',
            '2',
            '--size',
            '32',
            '--warmup',
            '0',
            '--repeats',
            '2',
            '--no-peers',
            '--json',
            str(out),
        ],
        tool_env(),
        timeout=300,
    )
    assert 'GFLOP/s' in log and '| mmconvnext |' in log and '| mmconvnext-plain |' in log
    record = json.loads(out.read_text())
    assert set(record['backbone']['results']) == {'mmconvnext', 'mmconvnext-plain'}
    assert record['machine']['matmul_gflops']['torch.mm'] > 0
    for r in record['backbone']['results'].values():
        assert r['fwd_img_s'] > 0 and r['fwd_bwd_img_s'] > 0


def test_benchmark_training_step_case_reports_time_and_memory():
    log = run_tool(
        [
            sys.executable,
            'tools/analysis/benchmark.py',
            '--case',
            'backbone/mmconvnext+with_cp',
            '--arch',
            'atto',
            '--batch',
            '2',
            '--size',
            '32',
            '--warmup',
            '0',
            '--repeats',
            '1',
        ],
        tool_env(),
        timeout=300,
    )
    r = json.loads(log.strip().splitlines()[-1])
    assert r['step_s'] > 0 and r['peak_mib'] >= 0 and r['size'] == '32x32'
