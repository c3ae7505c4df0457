"""tools/analysis/benchmark.py runs end to end (tiny settings; the real numbers are in
docs/benchmarks.md): matmul rates, the backbone table with ratios, a training-step
case with its peak memory (the worker process the tool starts per case), the JSON record,
and the optional deployment peers (rows where onnxruntime/OpenVINO are installed, a clean
skip where not). The in-process parts are the package's (mmconvnext.analysis.bench)."""

import importlib.util
import json
import sys

import pytest
import torch

from mmconvnext.analysis import bench
from mmconvnext.analysis.bench import backbone as bench_backbone
from mmconvnext.analysis.results import load_results

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
            '--threads',
            '1',  # the suite's one thread per process (conftest)
            '--json',
            str(out),
            '--results',
            str(tmp_path / 'results.json'),
        ],
        tool_env(),
        timeout=300,
    )
    results = load_results(str(tmp_path / 'results.json'))  # the printed table, with machine and command
    assert [row[0] for row in results['rows']] == ['mmconvnext', 'mmconvnext-plain']
    assert results['meta']['threads'] == 1 and '--no-peers' in results['meta']['command']
    assert 'GFLOP/s' in log and '| mmconvnext |' in log and '| mmconvnext-plain |' in log
    assert 'versions: torch ' in log and 'chosen path, mmconvnext: ' in log
    record = json.loads(out.read_text())
    assert set(record['backbone']['results']) == {'mmconvnext', 'mmconvnext-plain'}
    assert record['machine']['matmul_gflops']['torch.mm'] > 0
    for r in record['backbone']['results'].values():
        assert r['fwd_img_s'] > 0 and r['fwd_bwd_img_s'] > 0


def test_benchmark_training_step_case_reports_time_and_memory():
    job = dict(case='backbone/mmconvnext+with_cp', arch='atto', batch=2, size=32, det_size=[32, 32])
    job.update(warmup=0, repeats=1, threads=1)
    log = run_tool([sys.executable, '-m', 'mmconvnext.analysis.bench.worker', json.dumps(job)], tool_env(), timeout=300)
    r = json.loads(log.strip().splitlines()[-1])
    assert r['step_s'] > 0 and r['peak_mib'] >= 0 and r['size'] == '32x32'


def test_benchmark_row_with_an_absent_package_is_skipped_with_the_reason(monkeypatch):
    """An optional peer whose package is missing is a one-line skip, not a failure: it must
    stay so on a fresh clone without onnxruntime/OpenVINO/timm (checked here on any machine
    by pointing a row at a package that exists nowhere)."""
    tool = bench_backbone
    monkeypatch.setitem(tool.REQUIRES, 'onnxruntime', ('onnx', 'no_such_package_mmconvnext'))
    reason = tool.missing_packages('onnxruntime')
    assert reason is not None and 'is not installed' in reason
    assert tool.run_impl('onnxruntime', 'atto', 1, 32, 0, 1, 1) == {'skipped': reason}
    assert tool.missing_packages('mmconvnext') is None
    assert tool.package_version('no_such_package_mmconvnext') == 'absent'


def test_benchmark_deployment_peers_have_rows_with_export_checked(capsys):
    """onnxruntime and OpenVINO run mmconvnext's ONNX export: a row each (inference only)
    after the export's outputs were checked against PyTorch; an absent runtime is a skip
    line. Tiny settings (atto, batch 1, 64x64, one repeat, a small matmul), no other row
    (each row is a process of its own) and the report itself run in this process keep it
    to two tool processes."""
    pytest.importorskip('onnx')
    runtimes = [r for r in ('onnxruntime', 'openvino') if importlib.util.find_spec(r) is not None]
    if not runtimes:
        pytest.skip('neither onnxruntime nor openvino is installed (pip install -e .[deploy])')
    threads = torch.get_num_threads()
    try:
        bench.main(
            '--arch atto --batch 1 --size 64 --threads 1 --warmup 0 --repeats 1 --matmul-size 256 '
            '--impls onnxruntime openvino'.split()
        )
    finally:
        torch.set_num_threads(threads)  # the tool sets this process's threads
    log = capsys.readouterr().out
    assert 'versions: torch ' in log
    for runtime in ('onnxruntime', 'openvino'):
        if runtime in runtimes:
            row = next(line for line in log.splitlines() if line.startswith(f'| {runtime} | '))
            assert '- (inference only)' in row and float(row.split('|')[2]) > 0
            assert f'{runtime}: mmconvnext exported to ONNX' in log and 'max relative difference to PyTorch' in log
        else:
            assert f'skipped {runtime}: {runtime} is not installed' in log


def test_depthwise_rows_time_aten_and_the_kernels_per_stage():
    """``benchmark.py --depthwise``: every stage's forward, input and weight gradient by aten and by the compiled
    kernels, with GFLOP/s and the share of the FMA rate."""
    from mmconvnext.analysis.bench.depthwise import depthwise_rows, time_depthwise
    from mmconvnext.models.layers import depthwise_kernel

    if not depthwise_kernel.built():
        pytest.skip(depthwise_kernel.why_not_built())
    stages = time_depthwise('atto', batch=1, size=64, warmup=0, repeats=1, rounds=1)
    assert [(s['map'], s['channels']) for s in stages] == [(16, 40), (8, 80), (4, 160), (2, 320)]
    assert all(len(s['seconds']) == 6 and min(s['seconds'].values()) > 0 for s in stages)
    rows = depthwise_rows(stages, fma_gflops=100.0)
    assert len(rows) == 4 and all(len(r) == 10 and r[3].endswith('x') and 'GF/s' in r[1] for r in rows)


def test_profile_groups_the_step_by_operator():
    """``benchmark.py --profile``: a row's training step and inference forward under torch.profiler, every
    operator's self time in one group; the matmuls are found, and mmconvnext's depthwise kernels under their own
    label where the plan (here: the suite's forced fast path) takes them."""
    from mmconvnext.analysis.bench.profile import GROUPS, profile_impl, profile_rows
    from mmconvnext.models.layers import depthwise_kernel

    result = profile_impl('mmconvnext', 'atto', batch=1, size=64, warmup=0, steps=1)
    for kind in ('train', 'infer'):
        ms = result[kind]['self_ms']
        assert set(ms) == {g for g, _ in GROUPS} | {'other'} and result[kind]['step_ms'] > 0
        assert ms['matmuls (mm, addmm, oneDNN linear)'] > 0
        assert (ms['depthwise conv, mmconvnext kernels'] > 0) == depthwise_kernel.built()
    columns, rows = profile_rows({'mmconvnext': result}, 'train')
    assert columns[1].startswith('mmconvnext (') and len(rows) == len(GROUPS) + 1
