"""The ADE20K-layout datasets: layout checks, errors naming files, the shapes generator."""

import filecmp
import os

import cv2
import numpy as np
import pytest

from mmconvnext.datasets import ADE20KDataset, ShapesADE20KDataset, make_shapes_dataset
from mmconvnext.datasets.ade20k import ADE20K_URL

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]


def _dataset(data_root, cls=ADE20KDataset, split='training'):
    from mmengine.registry import init_default_scope

    init_default_scope('mmseg')
    return cls(
        data_root=str(data_root),
        pipeline=PIPELINE,
        data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'),
    )


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory):
    return make_shapes_dataset(str(tmp_path_factory.mktemp('shapes')), num_train=6, num_val=2, size=48)


def test_missing_dataset_names_the_path_and_the_source(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        _dataset(tmp_path / 'ade' / 'ADEChallengeData2016')
    msg = str(e.value)
    assert str(tmp_path / 'ade' / 'ADEChallengeData2016' / 'images' / 'training') in msg
    assert ADE20K_URL in msg and '--data-root' in msg


def test_empty_image_dir_and_unpaired_images(tmp_path, shapes_root):
    root = tmp_path / 'ADEChallengeData2016'
    for sub in ('images/training', 'annotations/training'):
        (root / sub).mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r'no \*\.jpg images in'):
        _dataset(root)
    src = os.path.join(shapes_root, 'images', 'training', 'shapes_training_00000.jpg')
    (root / 'images/training/a.jpg').write_bytes(open(src, 'rb').read())
    with pytest.raises(FileNotFoundError) as e:
        _dataset(root)
    assert str(root / 'annotations/training/a.png') in str(e.value)


def test_samples_load_with_ade20k_label_convention(shapes_root):
    ds = _dataset(shapes_root)
    assert len(ds) == 6 and len(ds.metainfo['classes']) == 150
    sample = ds[0]
    labels = np.unique(sample['data_samples'].gt_sem_seg.data.numpy())
    # values 1..5 in the PNG are classes 0..4; 0 (the outlines) becomes the ignore index
    assert set(labels) <= {0, 1, 2, 3, 4, 255} and 255 in labels and 0 in labels
    shapes = _dataset(shapes_root, ShapesADE20KDataset, 'validation')
    assert shapes.metainfo['classes'] == ('background', 'disc', 'box', 'triangle', 'ring') and len(shapes) == 2


@pytest.mark.parametrize('which', ['images', 'annotations'])
def test_corrupt_file_is_named(tmp_path, shapes_root, which):
    root = tmp_path / 'copy'
    for sub in ('images/training', 'annotations/training'):
        (root / sub).mkdir(parents=True)
        for f in sorted(os.listdir(os.path.join(shapes_root, sub)))[:2]:
            (root / sub / f).write_bytes(open(os.path.join(shapes_root, sub, f), 'rb').read())
    ext = 'jpg' if which == 'images' else 'png'
    bad = root / which / 'training' / f'shapes_training_00001.{ext}'
    bad.write_bytes(b'\x89PNG\r\n\x1a\n not really an image')
    ds = _dataset(root)
    ds[0]  # the intact sample still loads
    with pytest.raises(RuntimeError) as e:
        ds[1]
    assert str(bad) in str(e.value) and 'corrupt' in str(e.value)


def test_generator_is_deterministic_and_keeps_a_matching_copy(tmp_path):
    a = make_shapes_dataset(str(tmp_path / 'a'), num_train=3, num_val=1, size=40, seed=3)
    b = make_shapes_dataset(str(tmp_path / 'b'), num_train=3, num_val=1, size=40, seed=3)
    for sub in ('images/training', 'annotations/training', 'images/validation', 'annotations/validation'):
        names = sorted(os.listdir(os.path.join(a, sub)))
        assert names and names == sorted(os.listdir(os.path.join(b, sub)))
        match, mismatch, errors = filecmp.cmpfiles(os.path.join(a, sub), os.path.join(b, sub), names, shallow=False)
        assert not mismatch and not errors
    stamp = os.path.getmtime(os.path.join(a, 'shapes.json'))
    make_shapes_dataset(str(tmp_path / 'a'), num_train=3, num_val=1, size=40, seed=3)
    assert os.path.getmtime(os.path.join(a, 'shapes.json')) == stamp  # kept, not rewritten
    c = make_shapes_dataset(str(tmp_path / 'a'), num_train=2, num_val=1, size=40, seed=4)  # other args: rewritten
    assert len(os.listdir(os.path.join(c, 'images/training'))) == 2
    labels = np.stack(
        [
            np.asarray(cv2.imread(os.path.join(a, 'annotations/training', f), 0))
            for f in sorted(os.listdir(os.path.join(a, 'annotations/training')))
        ]
    )
    assert labels.max() <= 5 and (labels == 1).any()
