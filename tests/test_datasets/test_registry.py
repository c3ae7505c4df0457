"""The datasets' registry lookups: classification stays free of mmdet and mmseg, while the
segmentation and detection datasets still resolve as ``mmconvnext.<name>`` from their scopes."""

import json
import subprocess
import sys
import textwrap

from ..conftest import ROOT

# what configs/convnext_tiny_in1k.py does with its data, on a tiny generated set
CLASSIFICATION = textwrap.dedent("""
    import json, sys, tempfile
    import mmconvnext
    from mmengine.registry import DATASETS, METRICS, MODELS, init_default_scope
    from mmconvnext.datasets import make_shapes_imagenet

    init_default_scope('mmconvnext')
    root = make_shapes_imagenet(tempfile.mkdtemp(), num_classes=2, num_train=2, num_val=2, size=16)
    ds = DATASETS.build(dict(type='mmconvnext.ImageNetDataset', data_root=root, data_prefix='train', pipeline=[
        dict(type='LoadImageFromFile'), dict(type='mmconvnext.RandomResizedCrop', scale=8),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'), dict(type='mmconvnext.PackClsInputs')]))
    sample = ds[1]
    METRICS.build(dict(type='mmconvnext.Accuracy', topk=(1,)))
    MODELS.build(dict(type='mmconvnext.ClsDataPreprocessor', num_classes=2))
    print(json.dumps(dict(shape=list(sample['inputs'].shape), label=sample['data_samples'].gt_label.tolist(),
                          imported=[m for m in ('mmdet', 'mmseg') if m in sys.modules])))
""")


def test_classification_imports_neither_mmdet_nor_mmseg():
    run = subprocess.run([sys.executable, '-c', CLASSIFICATION], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == dict(shape=[3, 8, 8], label=[1], imported=[])


def test_segmentation_and_detection_datasets_resolve_from_their_scopes():
    from mmdet.registry import DATASETS as MMDET_DATASETS
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.registry import DATASETS, MODELS
    from mmseg.registry import DATASETS as MMSEG_DATASETS
    from mmseg.registry import MODELS as MMSEG_MODELS

    import mmconvnext.datasets as datasets
    from mmconvnext import ConvNeXt

    for name in ('ADE20KDataset', 'ShapesADE20KDataset'):
        assert MMSEG_DATASETS.get(f'mmconvnext.{name}') is getattr(datasets, name)
    for name in ('CocoDataset', 'ShapesCocoDataset'):
        assert MMDET_DATASETS.get(f'mmconvnext.{name}') is getattr(datasets, name)
    for registry in (MODELS, MMSEG_MODELS, MMDET_MODELS):
        assert registry.get('mmconvnext.ConvNeXt') is ConvNeXt
    assert DATASETS.get('mmconvnext.ImageNetDataset') is datasets.ImageNetDataset
    # a name the package does not define falls through to mmengine's own
    from mmengine.dataset import ConcatDataset
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope('mmconvnext'):
        with DATASETS.switch_scope_and_registry('mmconvnext') as registry:
            assert registry.get('ConcatDataset') is ConcatDataset
