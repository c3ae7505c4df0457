"""tools/analysis/roadmap.py: the table of the ladder against the paper, and --train on a
tiny generated set (two steps, one epoch), whose checkpoints then serve a dense backbone."""

import json
import sys

import pytest
import torch
from mmengine.config import Config

from mmconvnext.analysis.results import load_results
from mmconvnext.models import RoadmapNet

from ..conftest import load_checkpoint_file, run_tool, run_tool_failing, tool_env

TOOL = 'tools/analysis/roadmap.py'


def test_table_reports_params_gflops_and_paper_columns(tmp_path):
    log = run_tool(
        [sys.executable, TOOL, '--steps', 'resnet50', 'depthwise', 'separate_downsampling', '--out-dir', str(tmp_path)]
        + ['--results', str(tmp_path / 'results.json')],
        tool_env(),
        timeout=300,
    )
    # the same table as a results file (docs/roadmap.md renders docs/results/roadmap_complexity.json)
    results = load_results(str(tmp_path / 'results.json'))
    assert [r[1] for r in results['rows']] == ['`resnet50`', '`depthwise`', '`separate_downsampling`']
    rows = {r['step']: r for r in json.loads((tmp_path / 'roadmap.json').read_text())['rows']}
    assert list(rows) == ['resnet50', 'depthwise', 'separate_downsampling']
    assert round(rows['resnet50']['params_m'], 2) == 25.56
    assert round(rows['separate_downsampling']['params_m'], 2) == 28.59
    # computed from the code, compared with the paper's values (docs/references.md §7: 4.1 / 5.3 / 4.5 GFLOPs)
    for step, paper in (('resnet50', 4.1), ('depthwise', 5.3), ('separate_downsampling', 4.5)):
        assert rows[step]['paper_gflops'] == paper
        assert abs(rows[step]['gflops'] / paper - 1) < 0.05 and not rows[step]['flagged']
    assert rows['depthwise']['out_channels'] == [384, 768, 1536, 3072]
    assert '| 15 | `separate_downsampling` |' in log and 'more than 10% from the paper: none' in log
    assert (tmp_path / 'roadmap.md').read_text().count('\n') == 5


def test_table_flags_a_step_far_from_the_papers_gflops(tmp_path):
    """A step counted at another size no longer matches: the flag must be able to fire."""
    from mmconvnext.analysis.roadmap import FLAG_TOLERANCE, markdown

    row = dict(
        step='resnet50',
        what='x',
        params_m=25.56,
        gflops=5.0,
        paper_gflops=4.1,
        paper_top1=78.8,
        gflops_diff=5.0 / 4.1 - 1,
        flagged=abs(5.0 / 4.1 - 1) > FLAG_TOLERANCE,
        out_channels=[1],
    )
    assert row['flagged'] and '+22.0% FLAG' in markdown([row], 224)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('roadmap')
    out = tmp / 'out'
    log = run_tool(
        [
            sys.executable,
            TOOL,
            '--train',
            '--steps',
            'resnet50',
            'separate_downsampling',
            '--work-dir',
            str(tmp / 'work'),
            '--out-dir',
            str(out),
            '--epochs',
            '1',
            '--warmup-epochs',
            '0',
            '--batch',
            '8',
            '--img-size',
            '32',
            '--generate-counts',
            '24',
            '12',
            '--classes',
            '0123456789AB',  # the digits and two letters: 12 classes
            '--no-flip',
            '--crop-scale',
            '0.5',
            '--workers',
            '0',
            '--threads',
            '1',
            '--bench-size',
            '32',
            '--bench-batch',
            '2',
            '--scale',
            'atto',  # the ladder at ConvNeXt-atto's size: the last step is ConvNeXt-atto
            '--reuse',
        ],
        tool_env(),
        timeout=900,
    )
    return tmp, out, log


def test_train_adds_accuracy_throughput_and_a_plot(trained):
    tmp, out, log = trained
    record = json.loads((out / 'roadmap.json').read_text())
    assert [r['step'] for r in record['rows']] == ['resnet50', 'separate_downsampling']
    for r in record['rows']:
        assert 0.0 <= r['top1'] <= 100.0 and len(r['top1_by_epoch']) == 1
        assert r['train_img_s'] > 0 and r['infer_img_s'] > 0
    assert (out / 'roadmap.png').stat().st_size > 10_000
    assert 'measured top-1' in (out / 'roadmap.md').read_text() and 'top-1 halfway' in (out / 'roadmap.md').read_text()
    # --render re-makes the table and plot of that record elsewhere
    again = tmp / 'again'
    again.mkdir()
    run_tool([sys.executable, TOOL, '--render', str(out / 'roadmap.json'), '--out-dir', str(again)], tool_env())
    assert (again / 'roadmap.md').read_text() == (out / 'roadmap.md').read_text()
    assert (again / 'roadmap.png').stat().st_size > 10_000
    # several records (seeds): means, with each run's value beside them
    both = tmp / 'both'
    both.mkdir()
    log = run_tool(
        [
            sys.executable,
            TOOL,
            '--render',
            str(out / 'roadmap.json'),
            str(out / 'roadmap.json'),
            '--out-dir',
            str(both),
        ],
        tool_env(),
    )
    first = record['rows'][0]['top1']
    assert f'| {first:.1f} ({first:.1f} / {first:.1f}) |' in log
    combined = json.loads((both / 'roadmap.json').read_text())
    assert combined['rows'][0]['top1_runs'] == [first, first] and len(combined['sources']) == 2
    assert record['train']['epochs'] == 1 and record['train']['recipe'] == 'proxy'
    # the dumped config is the step's, with the proxy schedule and no EMA / batch augmentations
    cfg = Config.fromfile(str(tmp / 'work' / 'resnet50' / 'resnet50_train.py'))
    assert cfg.model.backbone.step == 'resnet50' and cfg.model.num_classes == 12
    assert cfg.model.data_preprocessor.mixup_cutmix is None and cfg.model.data_preprocessor.rand_augment is None
    assert not any(h.type == 'EMAHook' for h in cfg.custom_hooks)
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert [t.type for t in pipeline] == [
        'LoadImageFromFile',
        'mmconvnext.RandomResizedCrop',
        'mmconvnext.PackClsInputs',
    ]
    assert tuple(pipeline[1].crop_scale) == (0.5, 1.0) and pipeline[1].scale == 32
    assert record['train']['data_root'].endswith('glyphs')
    assert cfg.model.backbone.scale == 'atto' and record['scale'] == 'atto' and 'ConvNeXt-atto' in record['title']
    assert [r['out_channels'] for r in record['rows']] == [[108, 212, 428, 852], [40, 80, 160, 320]]
    assert all(r['gflops_diff'] is None for r in record['rows'])  # the paper's GFLOPs are ConvNeXt-T's


def test_reuse_reads_a_finished_step_back(trained):
    """The same command again with --reuse trains nothing: both steps are read back."""
    tmp, out, _ = trained
    runs = sorted(p.name for p in (tmp / 'work' / 'resnet50').iterdir() if p.is_dir())
    recorded = json.loads((out / 'roadmap.json').read_text())['train']
    assert recorded['reuse']
    again = tmp / 'reused'
    args = ['--train', '--steps', 'resnet50', 'separate_downsampling', '--work-dir', str(tmp / 'work')]
    for key in ('epochs', 'warmup_epochs', 'batch', 'img_size', 'classes', 'crop_scale', 'workers', 'threads'):
        args += [f'--{key.replace("_", "-")}', str(recorded[key])]
    args += ['--generate-counts', '24', '12', '--no-flip', '--bench-size', '32', '--bench-batch', '2']
    args += ['--scale', 'atto', '--reuse', '--out-dir', str(again)]
    run_tool([sys.executable, TOOL] + args, tool_env(), timeout=300)
    assert sorted(p.name for p in (tmp / 'work' / 'resnet50').iterdir() if p.is_dir()) == runs  # no new run
    first, second = (json.loads((d / 'roadmap.json').read_text())['rows'] for d in (out, again))
    assert [r['top1'] for r in first] == [r['top1'] for r in second]
    assert [r['train_s'] for r in first] == [r['train_s'] for r in second]  # the recorded run, not a new one


def test_a_trained_step_loads_as_a_dense_backbone(trained):
    tmp, _, _ = trained
    ckpt = tmp / 'work' / 'separate_downsampling' / 'epoch_1.pth'
    state = load_checkpoint_file(ckpt)['state_dict']
    dense = RoadmapNet(
        'separate_downsampling',
        scale='atto',
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'),
    )
    dense.init_weights()
    for name, value in dense.state_dict().items():
        if not name.startswith(('norm0', 'norm1', 'norm2')):  # a classifier has only the final norm
            torch.testing.assert_close(value, state[f'backbone.{name}'], rtol=0, atol=0)


def test_bad_data_root_is_named(tmp_path):
    err = run_tool_failing(
        [
            sys.executable,
            TOOL,
            '--train',
            '--steps',
            'resnet50',
            '--data-root',
            str(tmp_path),
            '--work-dir',
            str(tmp_path / 'w'),
        ],
        tool_env(),
    )
    assert f'--data-root {tmp_path}: no train/ directory' in err
