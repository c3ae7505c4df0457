"""A user's own data on real photographs (scikit-image's) in the own-data layouts: the config edit of
``--data-root [--classes]`` on every task's real T config, its refusals, the ``custom_data`` config entry,
and Cascade Mask R-CNN end to end (its model shrunk by a derived config, as the other tool tests do):
``tools/train.py --data-root``, every head following the json's classes in the dumped config,
``tools/test.py`` on that dumped config alone with per-class tables, ``tools/deployment/export.py``."""

import json
import sys

import pytest
from mmengine.config import Config

from mmconvnext.apis import use_custom_data
from mmconvnext.datasets import make_photo_coco, make_photo_folders, make_photo_seg

from ..conftest import ROOT, run_tool, run_tool_failing, tool_env
from ..derived_configs import det_tiny

pytest.importorskip('skimage', reason='the photograph datasets need scikit-image (requirements-dev.txt)')

SEG_CONFIG = 'upernet_convnext_tiny_ade20k.py'
DET_HEADS = {  # 32-channel RoI heads, fewer sampled RoIs (as tests/test_tools/test_det_tools.py)
    'cascade_mask_rcnn_convnext_tiny_coco_3x.py': [
        *(f'model.roi_head.bbox_head.{i}.in_channels=32' for i in range(3)),
        *(f'model.roi_head.bbox_head.{i}.fc_out_channels=64' for i in range(3)),
        *(f'model.train_cfg.rcnn.{i}.sampler.num=64' for i in range(3)),
    ],
}


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('photos')
    return dict(
        tmp=tmp,
        seg=make_photo_seg(str(tmp / 'seg')),
        det=make_photo_coco(str(tmp / 'det')),
        cls=make_photo_folders(str(tmp / 'cls')),
    )


def _heads(model: dict) -> list:
    """Every num_classes of a model config, but the RPN's."""
    found = []

    def visit(node, path):
        if isinstance(node, dict):
            if 'num_classes' in node:
                found.append((path, node['num_classes']))
            for k, v in node.items():
                if k != 'rpn_head':
                    visit(v, f'{path}.{k}')
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, f'{path}.{i}')

    visit(model, 'model')
    return found


@pytest.mark.parametrize(
    'config,data,classes,expected',
    [
        (SEG_CONFIG, 'seg', ['shadow', 'midtone', 'highlight'], 2),
        ('mask_rcnn_convnext_tiny_coco_1x.py', 'det', None, 2),
        ('cascade_mask_rcnn_convnext_tiny_coco_3x.py', 'det', None, 4),
        ('convnext_tiny_in1k.py', 'cls', None, 1),
    ],
)
def test_use_custom_data_sets_every_head_dataset_and_evaluator(photos, config, data, classes, expected):
    """The config edit alone (no training): heads, datasets, evaluators of the real configs."""
    cfg = Config.fromfile(ROOT / 'configs' / config)
    done = use_custom_data(cfg, photos[data], classes)
    names = {'seg': ('shadow', 'midtone', 'highlight'), 'det': ('coin', 'glare'), 'cls': ('kitten', 'mug', 'portrait')}[
        data
    ]
    assert tuple(done['classes']) == names and len(done['num_classes_set']) == expected
    heads = _heads(cfg.model)
    assert len(heads) == expected and all(n == len(names) for _, n in heads), heads
    if data == 'det':
        assert cfg.model.rpn_head.get('num_classes', 1) == 1  # class-agnostic proposals stay so
        assert cfg.val_evaluator.ann_file == f'{photos["det"]}/annotations/val.json' and cfg.val_evaluator.classwise
        assert cfg.train_dataloader.dataset.ann_file == 'annotations/train.json'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[key].dataset
        assert ds.data_root == photos[data] and tuple(ds.metainfo.classes) == names
    if data == 'seg':
        assert cfg.train_dataloader.dataset.type == 'mmconvnext.SegFolderDataset'
        assert cfg.val_dataloader.dataset.data_prefix.img_path == 'images/val'
        # mmseg refuses a LoadAnnotations whose reduce_zero_label disagrees with the dataset's
        loads = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'LoadAnnotations']
        assert loads and all(t['reduce_zero_label'] is None for t in loads)  # the dataset's
        assert len(cfg.train_dataloader.dataset.metainfo.palette) == 3
    if data == 'cls':
        assert cfg.val_evaluator.classwise


def test_classes_refused_with_the_reason(photos, tmp_path):
    cfg = Config.fromfile(ROOT / 'configs' / 'mask_rcnn_convnext_tiny_coco_1x.py')
    with pytest.raises(ValueError, match=r"must follow the order of the categories .*\['coin', 'glare'\]"):
        use_custom_data(cfg, photos['det'], ['glare', 'coin'])
    with pytest.raises(ValueError, match=r"\['dog'\] are not category names"):
        use_custom_data(cfg, photos['det'], ['dog'])
    cfg = Config.fromfile(ROOT / 'configs' / SEG_CONFIG)
    with pytest.raises(ValueError, match='names repeat'):
        use_custom_data(cfg, photos['seg'], ['a', 'a'])
    with pytest.raises(ValueError, match='at least 2 expected'):
        use_custom_data(cfg, photos['seg'], ['only'])
    # no --classes for label PNGs: DIR/classes.txt is read; without it, the names are asked for
    assert use_custom_data(cfg, photos['seg'])['classes'] == ['shadow', 'midtone', 'highlight']
    for d in ('images/train', 'annotations/train'):
        (tmp_path / d).mkdir(parents=True)
    with pytest.raises(ValueError, match=r'label PNGs hold class indices, not names: give the names'):
        use_custom_data(Config.fromfile(ROOT / 'configs' / SEG_CONFIG), str(tmp_path))


def test_config_entry_asks_for_the_same(photos, tmp_path):
    """The documented delta: a custom_data entry in a config, applied by the tools' load_config."""
    from mmconvnext.apis import load_config

    config = tmp_path / 'mine.py'
    config.write_text(
        f"_base_ = '{ROOT / 'configs' / SEG_CONFIG}'\n"
        f"custom_data = dict(data_root='{photos['seg']}', classes=('shadow', 'midtone', 'highlight'))\n"
    )
    cfg = load_config(str(config))
    assert 'custom_data' not in cfg
    assert cfg.model.decode_head.num_classes == 3 and cfg.model.auxiliary_head.num_classes == 3
    assert cfg.test_dataloader.dataset.data_prefix.seg_map_path == 'annotations/val'


def _train_test_export(tmp, config, data_root, extra, work_name, env=None):
    """train -> the dumped config -> test and export from it; returns (dumped cfg, test log, deploy.json)."""
    env = env or tool_env()
    work = tmp / work_name
    run_tool(
        [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work), '--data-root', data_root, *extra], env
    )
    dumped = work / config.name
    checkpoint = sorted(work.glob('*.pth'))[-1]
    cfg = Config.fromfile(dumped)
    test_log = run_tool(
        [sys.executable, 'tools/test.py', str(dumped), str(checkpoint), '--work-dir', str(tmp / f'{work_name}_test')],
        env,
    )
    out = tmp / f'{work_name}_export'
    run_tool(
        [
            sys.executable,
            'tools/deployment/export.py',
            str(dumped),
            str(checkpoint),
            '--format',
            'onnx',
            '--out',
            str(out),
        ],
        env,
        timeout=600,
    )
    return cfg, test_log, json.loads((out / 'deploy.json').read_text())


def test_cascade_on_own_coco_json(photos):
    """Cascade Mask R-CNN (three bbox heads, a mask head); the guide's walkthroughs, run by
    tests/test_docs_custom_data.py, cover UperNet, Mask R-CNN and the classifier the same way."""
    name = 'cascade_mask_rcnn_convnext_tiny_coco_3x.py'
    tmp = photos['tmp']
    config = tmp / f'own_{name}'
    config.write_text(det_tiny(ROOT / 'configs' / name, mask_rcnn=False))
    options = ['--cfg-options', *DET_HEADS[name]]
    cfg, log, deploy = _train_test_export(tmp, config, photos['det'], options, f'det_work_{name[:4]}')
    heads = _heads(cfg.model)
    assert heads and all(n == 2 for _, n in heads), heads  # classes read from the json
    assert len(heads) == 4
    assert tuple(cfg.train_dataloader.dataset.metainfo.classes) == ('coin', 'glare')
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log
    assert '| coin ' in log and '| glare ' in log, log[-3000:]  # CocoMetric(classwise=True)'s table
    assert tuple(deploy['classes']) == ('coin', 'glare')


def test_flags_need_a_data_root_and_one_source_of_names(photos, tmp_path):
    train = [sys.executable, 'tools/train.py', f'configs/{SEG_CONFIG}', '--work-dir', str(tmp_path / 'w')]
    stderr = run_tool_failing(train + ['--classes', 'a', 'b'], tool_env())
    assert 'describe the data of --data-root: give it' in stderr
    names = tmp_path / 'names.txt'
    names.write_text('')
    stderr = run_tool_failing(train + ['--data-root', photos['seg'], '--classes-file', str(names)], tool_env())
    assert f'--classes-file {str(names)!r} is empty' in stderr
    stderr = run_tool_failing(
        train + ['--data-root', photos['seg'], '--pretrained', str(tmp_path / 'no.pth')], tool_env()
    )
    assert f'--pretrained {str(tmp_path / "no.pth")!r}: no such file' in stderr


def test_mask2former_classes_follow_the_data_or_stay_the_configs(tmp_path):
    """Instance Mask2Former (things only): num_things_classes of the head and the fusion head, and the loss's
    per-class weights (+ the "no object" one) follow the json's classes. Panoptic: the root moves, with the PQ
    metric's ground-truth PNG folder; --classes is refused with the reason."""
    from mmconvnext.datasets import make_shapes_coco, make_shapes_coco_panoptic

    cfg = Config.fromfile(str(ROOT / 'configs' / 'mask2former_convnext_tiny_coco.py'))
    data = make_shapes_coco(str(tmp_path / 'ins'), num_train=1, num_val=1, size=32)
    done = use_custom_data(cfg, data)
    assert done['classes'] == ['disc', 'box', 'triangle', 'ring']
    head = cfg.model.panoptic_head
    assert head.num_things_classes == cfg.model.panoptic_fusion_head.num_things_classes == 4
    assert head.loss_cls.class_weight == [1.0] * 4 + [0.1]

    cfg = Config.fromfile(str(ROOT / 'configs' / 'mask2former_convnext_tiny_coco_panoptic.py'))
    data = make_shapes_coco_panoptic(str(tmp_path / 'pan'), num_train=1, num_val=1, size=32)
    use_custom_data(cfg, data)
    assert cfg.model.panoptic_head.num_things_classes == 80  # the config's things and stuff
    assert cfg.train_dataloader.dataset.data_root == data
    panoptic_metric = next(e for e in cfg.val_evaluator if e.type == 'CocoPanopticMetric')
    assert panoptic_metric.seg_prefix == f'{data}/annotations/panoptic_val2017/'
    with pytest.raises(ValueError, match='things and stuff'):
        use_custom_data(
            Config.fromfile(str(ROOT / 'configs' / 'mask2former_convnext_tiny_coco_panoptic.py')),
            data,
            classes=['a', 'b'],
        )
