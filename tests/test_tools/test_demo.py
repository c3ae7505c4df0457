"""tools/demo.py end to end on a shortened schedule: classification pretraining -> the same
weights in UperNet and Mask R-CNN through the configs' init_cfg, beside the same runs from
scratch; the table, the pass/fail line, the drawings and the curves."""

import json
import sys

import pytest
from filelock import FileLock

from mmconvnext.analysis.results import load_results

from ..conftest import run_tool, tool_env

PRETRAIN_EPOCHS = '3'  # of the config's 5: enough for a classifier well above chance (4 classes)


@pytest.fixture(scope='session')
def demo_cache(tmp_path_factory, worker_id):
    """The generated data and one shortened pretraining, made once for every xdist worker
    (the demo's own cache: the next demo reuses a checkpoint of the same config and seed)."""
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if worker_id != 'master' else base) / 'demo_cache'
    cache.mkdir(exist_ok=True)
    with FileLock(str(cache / 'lock')):
        log = run_tool(
            [sys.executable, 'tools/demo.py', '--pretrain-only', '--pretrain-epochs', PRETRAIN_EPOCHS]
            + ['--pretrain-dir', str(cache / 'pretrain'), '--data-root', str(cache / 'data')],
            tool_env(),
            timeout=900,
        )
    assert 'pretrained checkpoint:' in log
    return cache


def run_demo(cache, work, task: str, iters: str) -> tuple[str, dict]:
    log = run_tool(
        [sys.executable, 'tools/demo.py', '--task', task, '--iters', iters, '--pretrain-epochs', PRETRAIN_EPOCHS]
        + ['--pretrain-dir', str(cache / 'pretrain'), '--data-root', str(cache / 'data'), '--work-dir', str(work)]
        + ['--results', str(work / 'results.json')]
        + ['--min-top1', '0', '--min-score', '0', '--min-gain', '-100'],  # a shortened run: see test_verdict
        tool_env(),
        timeout=900,
    )
    with open(work / 'summary.json') as f:
        return log, json.load(f)


def check_started_from_the_classifier(log: str, summary: dict, work) -> None:
    # the pretraining was not repeated: the checkpoint the fixture made was found and reused
    assert '[pretrain] reusing' in log and summary['pretraining_reused']
    # the dense model's backbone came from the classifier's checkpoint, through its init_cfg
    config = (work / 'shared_weights.py').read_text()
    assert "type='Pretrained'" in config and 'pretrain.pth' in config
    loader = summary['loader']
    assert loader['checkpoint'].endswith('pretrain.pth')
    assert loader['missing'] == '[]', loader  # zero missing backbone keys
    # every backbone tensor but the output norms a classifier does not have (3 stages x 2)
    assert loader['total'] - loader['loaded'] == 6, loader
    assert 'output norms new in this multi-scale backbone' in (work / 'shared' / 'shared-weights.log').read_text()
    # a head start: the loss just after the warm-up is lower (same seed, same head init); the
    # total loss for UperNet, the mask loss for Mask R-CNN (tools/demo.py TASKS: head_start_loss)
    first = summary['head_start']['values']
    assert first['shared weights'] < first['from scratch'], summary['head_start']
    # progress with ETA on the console, the config dump only in the logs
    assert 'eta:' in log and 'Config:' not in log
    assert 'Config:' in (work / 'scratch' / 'from-scratch.log').read_text()
    assert 'demo: PASS' in log
    assert (work / 'curves.png').stat().st_size > 10_000


def test_segmentation_demo_starts_from_the_classifier(demo_cache, tmp_path):
    work = tmp_path / 'work'
    # 150 iterations: the head start shows from the second logged loss after the warm-up (a 60-iteration
    # run's only value in its second tenth, at iteration 10, came 4 iterations after a warm-up of 6, and
    # the two runs were within 0.4% there; from iteration 20 the shared weights were ahead, AMD EPYC)
    log, summary = run_demo(demo_cache, work, 'seg', '150')
    check_started_from_the_classifier(log, summary, work)
    assert 'segmentation, backbone from that checkpoint: mIoU' in log and 'backbone from scratch:' in log
    assert set(summary['scores']) == {'shared weights', 'from scratch'}
    # the validation images of every 4th batch of 16 (mmseg's hook counts batches): 6 x 16 of the 400
    assert len(list((work / 'overlays').rglob('*.png'))) == 96
    # --results: the summary row, with the machine and the command, as docs/get_started.md renders it
    results = load_results(str(work / 'results.json'))
    assert results['rows'][0][1] == '0' and 'mIoU, shared / scratch (gain)' in results['columns']
    assert results['summary']['scores'] == summary['scores'] and '--iters 150' in results['meta']['command']


def test_detection_demo_starts_from_the_classifier(demo_cache, tmp_path):
    work = tmp_path / 'work'
    log, summary = run_demo(demo_cache, work, 'det', '60')
    check_started_from_the_classifier(log, summary, work)
    assert summary['head_start']['loss'] == 'loss_mask' and 'loss_mask after warm-up' in log
    assert 'detection, backbone from that checkpoint: bbox_mAP' in log and 'segm_mAP' in log
    drawings = list((work / 'overlays').rglob('*.jpg')) + list((work / 'overlays').rglob('*.png'))
    assert len(drawings) == 100


@pytest.mark.parametrize('task', ['seg', 'det'])
def test_verdict_applies_the_demo_thresholds(task):
    """The pass/fail line of the full demo, with its own thresholds: a summary at the
    thresholds passes, and each number just below its threshold fails, named."""
    from mmconvnext.analysis import demo

    limits = demo.THRESHOLDS[task]
    metric = demo.TASKS[task]['metrics'][0]
    at = dict(
        thresholds=limits,
        pretrain_top1=limits['min_top1'],
        scores={'shared weights': {metric: limits['min_score']}},
        gain=limits['min_gain'] if limits['min_gain'] is not None else -50.0,
    )
    assert demo.verdict(at, metric) == []
    for key, field in (('min_top1', 'pretraining top-1'), ('min_score', 'shared-weights'), ('min_gain', 'gain')):
        if limits[key] is None:  # a threshold of None is not checked
            continue
        below = json.loads(json.dumps(at))
        if key == 'min_score':
            below['scores']['shared weights'][metric] -= 0.5
        else:
            below['pretrain_top1' if key == 'min_top1' else 'gain'] -= 0.5
        (failure,) = demo.verdict(below, metric)
        assert failure.startswith(field), failure
