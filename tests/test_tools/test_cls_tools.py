"""The ImageNet trainer end to end on a tiny ImageFolder made on the fly: tools/train.py
with the full augmentation stack and EMA, resume, tools/test.py (top-1/top-5), the
converter's exports, and the checkpoint loaded as-is by an UperNet and a Mask R-CNN
config (every backbone tensor matched by name)."""

import pickle
import re
import sys

import pytest
import torch
from mmengine.config import Config

from mmconvnext.apis import build_model
from mmconvnext.checkpoint import load_pretrained

from ..conftest import ROOT, load_checkpoint_file, run_tool, run_tool_failing, tool_env

CONFIG = 'configs/convnext_tiny_in1k.py'
SIZE = 48
# the real config, shrunk: atto, 4 classes, 48x48 crops (eval: short side 55 -> centre crop 48), 2 epochs
SMALL = [
    'model.backbone.arch=atto',
    'model.num_classes=4',
    'model.backbone.drop_path_rate=0.1',
    f'train_dataloader.dataset.pipeline.1.scale={SIZE}',
    *(
        f'{loader}_dataloader.dataset.pipeline.{i}'
        for loader in ('val', 'test')
        for i in (f'1.scale=(100000,{SIZE * 8 // 7})', f'2.crop_size={SIZE}')
    ),
    'train_dataloader.batch_size=8',
    'val_dataloader.batch_size=16',
    'test_dataloader.batch_size=16',
    'train_dataloader.num_workers=0',
    'val_dataloader.num_workers=0',
    'test_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.persistent_workers=False',
    'test_dataloader.persistent_workers=False',
    'train_dataloader.pin_memory=False',
    'val_dataloader.pin_memory=False',
    'test_dataloader.pin_memory=False',
    'default_hooks.logger.interval=5',
    'env_cfg.mp_cfg.mp_start_method=fork',
]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Two epochs of training, then a resumed third; returns (work dir, data root, logs)."""
    from mmconvnext.datasets import make_shapes_imagenet

    tmp = tmp_path_factory.mktemp('cls')
    data = make_shapes_imagenet(str(tmp / 'data'))
    work = tmp / 'work'
    train = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work), '--data-root', data]
    log = run_tool(train + ['--cfg-options', *SMALL, 'train_cfg.max_epochs=2'], tool_env(), timeout=600)
    resumed = run_tool(train + ['--resume', '--cfg-options', *SMALL, 'train_cfg.max_epochs=3'], tool_env(), timeout=600)
    return work, data, log, resumed


def test_training_logs_raw_and_ema_accuracy(trained):
    work, _, log, _ = trained
    val = [line for line in log.splitlines() if 'Epoch(val)' in line and 'accuracy/top1' in line]
    assert len(val) == 2, log[-3000:]
    assert 'raw/accuracy/top1' in val[-1] and 'accuracy/top5' in val[-1]
    # the augmentation stack and EMA of the real config ran
    assert 'rand_augment=' in log and 'mixup_cutmix=' in log and 'random_erasing=' in log and 'EMAHook' in log
    ckpt = load_checkpoint_file(work / 'epoch_2.pth')
    assert 'ema_state_dict' in ckpt and any(k.startswith('backbone.stages.') for k in ckpt['state_dict'])


def test_resume_continues_from_the_last_epoch(trained):
    work, _, _, resumed = trained
    assert re.search(r'resumed epoch: 2', resumed) or 'Load checkpoint from' in resumed, resumed[-3000:]
    assert 'Epoch(train) [3]' in resumed and 'Epoch(train) [1]' not in resumed
    assert (work / 'epoch_3.pth').exists()


def test_tools_test_reports_top1_top5(trained):
    work, data, _, _ = trained
    log = run_tool(
        [
            sys.executable,
            'tools/test.py',
            CONFIG,
            str(work / 'epoch_3.pth'),
            '--work-dir',
            str(work),
            '--data-root',
            data,
            '--cfg-options',
            *SMALL,
        ],
        tool_env(),
    )
    m = re.search(r'Epoch\(test\).*accuracy/top1: ([0-9.]+)\s+accuracy/top5: ([0-9.]+)', log)
    assert m, log[-3000:]
    assert 0.0 <= float(m.group(1)) <= 100.0 and float(m.group(2)) == 100.0  # 4 classes: top-5 covers all


def _dense_cfg(config: str, checkpoint: str) -> Config:
    cfg = Config.fromfile(str(ROOT / config))
    cfg.model.backbone.arch = 'atto'
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')
    neck = cfg.model.get('neck')
    if neck is not None:
        neck.in_channels = [40, 80, 160, 320]
    else:
        cfg.model.decode_head.in_channels = [40, 80, 160, 320]
        cfg.model.auxiliary_head.in_channels = 160
    return cfg


@pytest.mark.parametrize(
    'config', ['configs/upernet_convnext_tiny_ade20k.py', 'configs/mask_rcnn_convnext_tiny_coco_1x.py']
)
def test_trainer_checkpoint_loads_into_dense_configs(trained, config):
    work = trained[0]
    ckpt = str(work / 'epoch_3.pth')
    trained_state = load_checkpoint_file(ckpt)['state_dict']
    model = build_model(_dense_cfg(config, ckpt))
    model.init_weights()  # the config's own path: backbone init_cfg Pretrained
    backbone = model.backbone.state_dict()
    from_ckpt = {k[len('backbone.') :]: v for k, v in trained_state.items() if k.startswith('backbone.')}
    # every backbone tensor of the trainer checkpoint is in the dense backbone, by name and value
    assert set(from_ckpt) <= set(backbone)
    for name, value in from_ckpt.items():
        assert torch.equal(backbone[name], value), name
    # what the dense backbone has beyond the classifier: only the per-stage output norms
    # of its extra out_indices (a classifier has one final norm, norm3)
    extra = sorted(set(backbone) - set(from_ckpt))
    assert extra == [f'norm{i}.{p}' for i in range(3) for p in ('bias', 'weight')], extra
    missing, unexpected = load_pretrained(model.backbone, ckpt, prefix='backbone.')
    assert missing == [] and unexpected == []  # those norms are reported as new layers, not missing


def test_converter_exports_backbone_raw_or_ema(trained, tmp_path):
    work = trained[0]
    ckpt = work / 'epoch_3.pth'
    saved = load_checkpoint_file(ckpt)
    tool = [sys.executable, 'tools/model_converters/convnext_to_mmconvnext.py', str(ckpt)]
    for flag, expected in (
        ([], {k[7:]: v for k, v in saved['ema_state_dict'].items() if k.startswith('module.')}),
        (['--ema'], saved['state_dict']),
    ):
        out = tmp_path / f'export{"_".join(flag)}.pth'
        run_tool(tool + [str(out), '--backbone-only', *flag], tool_env())
        exported = torch.load(out, map_location='cpu', weights_only=True)
        state = exported['state_dict']
        assert state and all(k.startswith('backbone.') for k in state)
        assert exported['meta']['weights'] == ('ema' if flag else 'raw')
        for k, v in state.items():
            assert torch.equal(v, expected[k]), k
    # raw and EMA weights differ after training
    assert not torch.equal(
        saved['state_dict']['backbone.downsample_layers.0.0.weight'],
        saved['ema_state_dict']['module.backbone.downsample_layers.0.0.weight'],
    )


def test_foreign_checkpoints_evaluate_through_tools_test(trained, tmp_path):
    """Official- and timm-layout classifier files (made from the trained weights) give
    the same accuracy through tools/test.py as the trainer checkpoint."""
    from ..test_checkpoint import official_key, timm_key

    work, data, _, _ = trained
    state = load_checkpoint_file(work / 'epoch_3.pth')['state_dict']
    backbone = {k[len('backbone.') :]: v for k, v in state.items() if k.startswith('backbone.')}
    official = {official_key(k): v for k, v in backbone.items()}
    official['head.weight'], official['head.bias'] = state['head.fc.weight'], state['head.fc.bias']
    timm = {timm_key(k): v for k, v in backbone.items()}
    timm['head.fc.weight'], timm['head.fc.bias'] = state['head.fc.weight'], state['head.fc.bias']
    torch.save({'model': official}, tmp_path / 'official.pth')
    torch.save(timm, tmp_path / 'timm.pth')
    scores = []
    for name, ck in (
        ('official', tmp_path / 'official.pth'),
        ('timm', tmp_path / 'timm.pth'),
        ('ours', work / 'epoch_3.pth'),
    ):
        out = tmp_path / f'{name}.pkl'
        log = run_tool(
            [
                sys.executable,
                'tools/test.py',
                CONFIG,
                str(ck),
                '--work-dir',
                str(tmp_path),
                '--out',
                str(out),
                '--data-root',
                data,
                '--cfg-options',
                *SMALL,
            ],
            tool_env(),
        )
        assert re.search(r'Epoch\(test\).*accuracy/top1: [0-9.]+', log), log[-2000:]
        with open(out, 'rb') as f:
            scores.append(torch.stack([torch.as_tensor(r['pred_score']) for r in pickle.load(f)]))
    assert scores[0].shape == (40, 4)
    assert torch.equal(scores[0], scores[2]) and torch.equal(scores[1], scores[2])  # same weights, same head


def test_missing_imagenet_names_the_layout(tmp_path):
    err = run_tool_failing(
        [
            sys.executable,
            'tools/train.py',
            CONFIG,
            '--work-dir',
            str(tmp_path / 'w'),
            '--data-root',
            str(tmp_path / 'nowhere'),
            '--cfg-options',
            *SMALL,
        ],
        tool_env(),
    )
    assert 'nowhere' in err and 'train' in err


def test_dist_train_two_cpu_processes(trained, tmp_path):
    """The same config through tools/dist_train.sh: 2 processes (gloo), each its own
    batch augmentations, EMA and raw validation gathered across ranks."""
    _, data, _, _ = trained
    log = run_tool(
        [
            'bash',
            'tools/dist_train.sh',
            CONFIG,
            '2',
            '--work-dir',
            str(tmp_path),
            '--data-root',
            data,
            '--cfg-options',
            *SMALL,
            'train_cfg.max_epochs=1',
        ],
        tool_env(),
    )
    assert 'Distributed training: True' in log
    val = [line for line in log.splitlines() if 'Epoch(val)' in line and 'raw/accuracy/top1' in line]
    assert len(val) == 1 and (tmp_path / 'epoch_1.pth').exists()
