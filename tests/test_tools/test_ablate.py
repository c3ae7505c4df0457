"""tools/analysis/ablate.py on a tiny generated set, 2 variants x 2 seeds: the table, the
JSON and the plot are written, and the costs move the way the changes say."""

import json
import sys

from mmconvnext.analysis.results import load_results

from ..conftest import run_tool, tool_env

TINY = '{"depths": [1, 1, 1, 1], "channels": [8, 16, 32, 64]}'


def test_ablation_runner_writes_table_json_and_plot(tmp_path):
    out = tmp_path / 'out'
    log = run_tool(
        [
            sys.executable,
            'tools/analysis/ablate.py',
            '--arch',
            TINY,
            '--variants',
            'convnext',
            'k3',
            '--seeds',
            '0',
            '1',
            '--epochs',
            '1',
            '--warmup-epochs',
            '0',
            '--num-train',
            '40',
            '--num-val',
            '20',
            '--generate-size',
            '32',
            '--img-size',
            '32',
            '--batch',
            '16',
            '--workers',
            '0',
            '--threads',
            '1',
            '--bench-size',
            '64',
            '--bench-repeats',
            '1',
            '--erf-size',
            '64',
            '--erf-images',
            '4',
            '--work-dir',
            str(tmp_path / 'work'),
            '--out-dir',
            str(out),
            '--results',
            str(tmp_path / 'results.json'),
        ],
        tool_env(),
        timeout=600,
    )
    record = json.loads((out / 'ablation.json').read_text())
    results = load_results(str(tmp_path / 'results.json'))  # the printed table, as docs/roadmap.md renders it
    assert [r[0] for r in results['rows']] == ['convnext', 'k3'] and results['columns'][0] == 'variant'
    rows = {r['variant']: r for r in record['rows']}
    assert set(rows) == {'convnext', 'k3'}
    for r in rows.values():
        assert len(r['top1']['runs']) == 2 and 0 <= r['top1']['mean'] <= 100
        assert r['erf_trained']['area90_px'] >= r['erf_trained']['area50_px'] > 0
        assert r['latency_b1_ms'] > 0 and r['throughput_b8'] > 0
    # a 3x3 kernel has 40 weights fewer per channel than a 7x7 one: 8 + 16 + 32 + 64 channels
    assert round((rows['convnext']['params_m'] - rows['k3']['params_m']) * 1e6) == 40 * 120
    assert rows['convnext']['gflops'] > rows['k3']['gflops']
    for r in rows.values():
        assert r['final_train_loss'] > 0
    k3 = record['versus_convnext']['k3']  # the difference of the means and its standard error
    assert abs(k3['diff'] - (rows['k3']['top1']['mean'] - rows['convnext']['top1']['mean'])) < 1e-9
    assert k3['se'] >= 0 and 'convnext' not in record['versus_convnext']
    table = (out / 'ablation.md').read_text()
    assert '| convnext |' in table and '| k3 |' in table and '±' in table and f'{k3["diff"]:+.1f} ±' in table
    assert (out / 'ablation.png').stat().st_size > 10_000
    assert 'wrote' in log


def test_train_proxy_reuses_a_finished_run_only_for_the_same_config(tmp_path, monkeypatch):
    """--reuse: a run with a result file and the same dumped config is read back, not
    trained again; a changed config, or no ``reuse``, trains again."""
    import subprocess

    from mmengine.config import Config

    from mmconvnext.analysis import proxy

    calls = []

    def fake_train(cmd, **kwargs):  # stands in for tools/train.py: logs one epoch's scalars
        work_dir = cmd[cmd.index('--work-dir') + 1]
        run_dir = tmp_path / 'work' / f'2026010{len(calls)}_000000' / 'vis_data'
        run_dir.mkdir(parents=True)
        records = [dict(loss=1.5, time=0.5, step=1), {'accuracy/top1': 40.0 + len(calls), 'step': 1}]
        (run_dir / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in records))
        with open(cmd[2], 'a') as f:  # the runner dumps its own config over the file, as mmengine's does
            f.write("launcher = 'none'\n")
        calls.append(work_dir)
        return subprocess.CompletedProcess(cmd, 0, '', '')

    monkeypatch.setattr(proxy.subprocess, 'run', fake_train)
    cfg = Config(
        dict(work_dir=str(tmp_path / 'work'), train_dataloader=dict(batch_size=8), train_cfg=dict(max_epochs=1))
    )
    first = proxy.train_proxy(cfg, 'toy', reuse=True)
    assert len(calls) == 1 and first['top1'] == 40.0 and first['train_img_s'] == 16.0
    assert proxy.train_proxy(cfg, 'toy', reuse=True) == first and len(calls) == 1
    assert proxy.train_proxy(cfg, 'toy')['top1'] == 41.0 and len(calls) == 2  # no reuse: trained again
    cfg.train_cfg.max_epochs = 2
    assert proxy.train_proxy(cfg, 'toy', reuse=True)['top1'] == 42.0 and len(calls) == 3
