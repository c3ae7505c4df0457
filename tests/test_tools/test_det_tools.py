"""Detection end to end through the real tools: Mask R-CNN (1x config) and Cascade Mask
R-CNN (3x config, its multi-scale crop pipeline shrunk) with a tiny backbone on a tiny
COCO-format fixture made on the fly (polygons, RLE, boxes): a few iterations with
tools/train.py, then tools/test.py reporting bbox and segm mAP and drawing results."""

import json
import sys

import pytest

import mmconvnext  # noqa: F401
from mmconvnext.datasets import make_shapes_coco
from mmconvnext.datasets.coco import COCO_URL

from ..conftest import ROOT, run_tool, run_tool_failing, tool_env

COMMON = """
_base_ = '{base}'
model = dict(
    backbone=dict(arch=dict(_delete_=True, depths=[1, 1, 1, 1], channels=[8, 16, 32, 64]), init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64]),
    roi_head=dict(mask_head=dict(num_classes=4)),
    test_cfg=dict(rcnn=dict(score_thr=0.0)))  # an untrained model: keep its detections to evaluate them
classes = ('disc', 'box', 'triangle', 'ring')
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(loader, dataset=dict(metainfo=dict(classes=classes), pipeline=train_pipeline))
val_dataloader = dict(loader, dataset=dict(metainfo=dict(classes=classes), pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
"""
MASK_RCNN = (
    """
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(160, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
"""
    + COMMON
)
CASCADE = (
    """
scales = [(96, 200), (128, 200)]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)],
        [dict(type='RandomChoiceResize', scales=[(80, 200), (100, 200)], keep_ratio=True),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(64, 96), allow_negative_crop=True),
         dict(type='RandomChoiceResize', scales=scales, keep_ratio=True)],
    ]),
    dict(type='PackDetInputs'),
]
"""
    + COMMON
)


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('det')
    return tmp, make_shapes_coco(str(tmp / 'data'), num_train=4, num_val=2, size=128)


# four classes in the bbox heads (one dict for Mask R-CNN, a list of three for Cascade), fewer
# RoIs than COCO's 512 sampled / 1000 proposals, and 32-channel FPN/RPN/RoI heads (256 in the
# configs; the heads took most of each step), to keep the test short
SMALL = [
    'model.train_cfg.rpn_proposal.max_per_img=200',
    'model.test_cfg.rpn.max_per_img=100',
    'model.neck.out_channels=32',
    'model.rpn_head.in_channels=32',
    'model.rpn_head.feat_channels=32',
    'model.roi_head.bbox_roi_extractor.out_channels=32',
    'model.roi_head.mask_roi_extractor.out_channels=32',
    'model.roi_head.mask_head.in_channels=32',
    'model.roi_head.mask_head.conv_out_channels=32',
]
FOUR_CLASSES = {
    'mask_rcnn_convnext_tiny_coco_1x.py': [
        'model.roi_head.bbox_head.num_classes=4',
        'model.roi_head.bbox_head.in_channels=32',
        'model.roi_head.bbox_head.fc_out_channels=64',
        'model.train_cfg.rcnn.sampler.num=64',
        *SMALL,
    ],
    'cascade_mask_rcnn_convnext_tiny_coco_3x.py': [
        *(f'model.roi_head.bbox_head.{i}.num_classes=4' for i in range(3)),
        *(f'model.roi_head.bbox_head.{i}.in_channels=32' for i in range(3)),
        *(f'model.roi_head.bbox_head.{i}.fc_out_channels=64' for i in range(3)),
        *(f'model.train_cfg.rcnn.{i}.sampler.num=64' for i in range(3)),
        *SMALL,
    ],
}


@pytest.mark.parametrize(
    'name,template',
    [('mask_rcnn_convnext_tiny_coco_1x.py', MASK_RCNN), ('cascade_mask_rcnn_convnext_tiny_coco_3x.py', CASCADE)],
)
def test_train_then_test_reports_bbox_and_segm_map(coco, name, template):
    tmp, data_root = coco
    config = tmp / f'derived_{name}'
    config.write_text(template.format(base=ROOT / 'configs' / name))
    work = tmp / f'work_{name}'
    options = ['--data-root', data_root, '--cfg-options', *FOUR_CLASSES[name]]
    log = run_tool([sys.executable, 'tools/train.py', str(config), '--work-dir', str(work), *options], tool_env())
    assert 'Epoch(train) [1][2/2]' in log and 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log
    checkpoint = work / 'epoch_1.pth'
    assert checkpoint.exists()
    show = tmp / f'show_{name}'
    log = run_tool(
        [
            sys.executable,
            'tools/test.py',
            str(config),
            str(checkpoint),
            '--work-dir',
            str(work),
            '--show-dir',
            str(show),
            '--out',
            str(tmp / f'{name}.pkl'),
            *options,
        ],
        tool_env(),
    )
    assert 'Epoch(test) [2/2]' in log
    assert 'coco/bbox_mAP:' in log and 'coco/segm_mAP:' in log
    assert len(list(show.rglob('*.jpg')) + list(show.rglob('*.png'))) == 2
    assert (tmp / f'{name}.pkl').stat().st_size > 0


def test_missing_and_malformed_coco(tmp_path, coco):
    _, data_root = coco
    missing = tmp_path / 'coco'
    stderr = run_tool_failing(
        [
            sys.executable,
            'tools/train.py',
            'configs/mask_rcnn_convnext_tiny_coco_1x.py',
            '--work-dir',
            str(tmp_path / 'w'),
            '--data-root',
            str(missing),
        ],
        tool_env(),
    )
    last = stderr.strip().splitlines()[-1]
    assert last.startswith('FileNotFoundError: CocoDataset: annotation file')
    assert str(missing / 'annotations' / 'instances_train2017.json') in last and COCO_URL in last

    from mmengine.registry import init_default_scope

    from mmconvnext.datasets import CocoDataset

    init_default_scope('mmdet')
    ann = json.loads(open(f'{data_root}/annotations/instances_val2017.json').read())
    bad = tmp_path / 'bad.json'
    cases = [
        ('{"images": [', 'not valid JSON (line 1'),
        (json.dumps(dict(ann, annotations=[dict(ann['annotations'][0], bbox=[1, 2, 3])])), 'is not [x, y, width'),
        (json.dumps(dict(ann, annotations=[dict(ann['annotations'][0], category_id=99)])), 'category_id 99'),
    ]
    for text, problem in cases:
        bad.write_text(text)
        with pytest.raises(ValueError) as e:
            CocoDataset(
                data_root=data_root,
                ann_file=str(bad),
                data_prefix=dict(img='val2017/'),
                pipeline=[],
                metainfo=dict(classes=('disc', 'box', 'triangle', 'ring')),
            )
        assert str(bad) in str(e.value) and problem in str(e.value), str(e.value)


def test_cascade_trains_with_two_cpu_processes_and_sync_bn(coco):
    """dist_train.sh with 2 processes (gloo): the Cascade heads' SyncBN synchronises
    through mmconvnext's CPU SyncBN, as it would through NCCL on GPUs."""
    tmp, data_root = coco
    name = 'cascade_mask_rcnn_convnext_tiny_coco_3x.py'
    config = tmp / f'dist_{name}'
    config.write_text(CASCADE.format(base=ROOT / 'configs' / name))
    work = tmp / 'dist_work'
    log = run_tool(
        [
            'bash',
            'tools/dist_train.sh',
            str(config),
            '2',
            '--work-dir',
            str(work),
            '--data-root',
            data_root,
            '--cfg-options',
            *FOUR_CLASSES[name],
            'train_dataloader.batch_size=2',
        ],
        tool_env(),
    )
    assert 'Distributed training: True' in log and 'Epoch(train) [1][1/1]' in log  # 4 images / (2 x 2)
    # the three 4conv1fc heads' SyncBN (one per conv), reported by rank 0
    assert 'CPU DDP: 12 SyncBatchNorm layers synchronise over gloo' in log, log[-3000:]
    assert 'coco/bbox_mAP' in log and (work / 'epoch_1.pth').exists()
