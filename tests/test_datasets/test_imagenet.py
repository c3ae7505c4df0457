"""ImageNet-layout classification data: both layouts, errors naming files and lines,
the shapes generator, and the classification transforms (ours and mmcv's eval ones)."""

import filecmp
import os

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import CenterCrop, LoadImageFromFile, Resize
from mmengine.structures import BaseDataElement

from mmconvnext.datasets import (
    ImageNetDataset,
    PackClsInputs,
    RandomResizedCrop,
    make_glyphs_imagenet,
    make_shapes_imagenet,
)

CLASSES = ('n0000000_disc', 'n0000001_box', 'n0000002_triangle', 'n0000003_ring')


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory) -> str:
    return make_shapes_imagenet(str(tmp_path_factory.mktemp('cls')), num_train=12, num_val=8, size=32)


def _copy_image(shapes_root: str, dst) -> None:
    src = os.path.join(shapes_root, 'train', CLASSES[0], f'{CLASSES[0]}_00000.JPEG')
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(open(src, 'rb').read())


# ---------------------------------------------------------------------- layouts
def test_folder_layout(shapes_root):
    ds = ImageNetDataset(data_root=shapes_root, data_prefix='train')
    assert ds.metainfo['classes'] == CLASSES and len(ds) == 12
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    for info in infos:
        assert os.path.isfile(info['img_path']) and isinstance(info['gt_label'], int)
        assert os.path.basename(os.path.dirname(info['img_path'])) == CLASSES[info['gt_label']]
    assert [i['img_path'] for i in infos] == sorted(i['img_path'] for i in infos)  # class order, then sorted
    assert ds.get_gt_labels().tolist() == sorted([0, 1, 2, 3] * 3) and ds.get_cat_ids(11) == [3]
    # data_prefix as mmengine's dict, num_classes matching
    ds2 = ImageNetDataset(data_root=shapes_root, data_prefix=dict(img_path='val'), num_classes=4)
    assert len(ds2) == 8 and ds2.metainfo['classes'] == CLASSES


def test_folder_layout_recursive_extensions_and_classes(tmp_path, shapes_root):
    root = tmp_path / 'd'
    _copy_image(shapes_root, root / 'train' / 'b' / 'x.PNG')
    _copy_image(shapes_root, root / 'train' / 'b' / 'sub' / 'y.jpeg')
    _copy_image(shapes_root, root / 'train' / 'a' / 'z.webp')
    (root / 'train' / 'a' / 'notes.txt').write_text('not an image')
    (root / 'train' / '.hidden').mkdir()
    ds = ImageNetDataset(data_root=str(root), data_prefix='train')
    assert ds.metainfo['classes'] == ('a', 'b')
    assert [(os.path.relpath(d['img_path'], root), d['gt_label']) for d in ds.load_data_list()] == [
        ('train/a/z.webp', 0),
        ('train/b/sub/y.jpeg', 1),
        ('train/b/x.PNG', 1),
    ]
    # folder names select (and order) classes; other names rename the sorted folders
    ds = ImageNetDataset(data_root=str(root), data_prefix='train', classes=['b'])
    assert ds.metainfo['classes'] == ('b',) and [d['gt_label'] for d in ds.load_data_list()] == [0, 0]
    (root / 'names.txt').write_text('apple\nbanana\n\n')
    ds = ImageNetDataset(data_root=str(root), data_prefix='train', classes='names.txt')
    assert ds.metainfo['classes'] == ('apple', 'banana') and len(ds) == 3
    ds = ImageNetDataset(data_root=str(root), data_prefix='train', lazy_init=True)
    assert ds.metainfo['classes'] == ('a', 'b')  # known before the images are scanned


def test_annotation_layout(shapes_root):
    ds = ImageNetDataset(
        data_root=shapes_root, data_prefix='train', ann_file='meta/train.txt', classes='meta/classes.txt'
    )
    folder = ImageNetDataset(data_root=shapes_root, data_prefix='train')
    assert ds.metainfo['classes'] == CLASSES and len(ds) == 12
    a = sorted((d['img_path'], d['gt_label']) for d in ds.load_data_list())
    b = sorted((d['img_path'], d['gt_label']) for d in folder.load_data_list())
    assert a == b
    unnamed = ImageNetDataset(data_root=shapes_root, data_prefix='val', ann_file='meta/val.txt')
    assert unnamed.metainfo['classes'] == ('0', '1', '2', '3') and len(unnamed) == 8


# ---------------------------------------------------------------------- errors
def test_missing_data_dir_names_the_path_and_the_layouts(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        ImageNetDataset(data_root=str(tmp_path / 'imagenet'), data_prefix='train')
    msg = str(e.value)
    assert str(tmp_path / 'imagenet' / 'train') in msg and 'train/<class>/<image>' in msg
    assert 'ann_file' in msg and '--data-root' in msg and 'tools/train.py' in msg
    with pytest.raises(FileNotFoundError) as e:
        ImageNetDataset(data_root=str(tmp_path), data_prefix='', ann_file='meta/train.txt')
    assert str(tmp_path / 'meta' / 'train.txt') in str(e.value) and '--data-root' in str(e.value)


def test_empty_class_folder_and_no_class_folders(tmp_path, shapes_root):
    root = tmp_path / 'd'
    (root / 'train').mkdir(parents=True)
    _copy_image(shapes_root, root / 'train' / 'flat.JPEG')
    with pytest.raises(FileNotFoundError, match='no class folders in') as e:
        ImageNetDataset(data_root=str(root), data_prefix='train')
    assert str(root / 'train') in str(e.value)
    _copy_image(shapes_root, root / 'train' / 'a' / 'x.JPEG')
    (root / 'train' / 'b').mkdir()
    (root / 'train' / 'b' / 'readme.md').write_text('no images here')
    with pytest.raises(FileNotFoundError, match='holds no images') as e:
        ImageNetDataset(data_root=str(root), data_prefix='train')
    assert str(root / 'train' / 'b') in str(e.value)


def test_num_classes_and_classes_checked_against_folders(shapes_root):
    with pytest.raises(ValueError, match=r'num_classes=5 but .*train.* has 4 class folders'):
        ImageNetDataset(data_root=shapes_root, data_prefix='train', num_classes=5)
    with pytest.raises(ValueError, match='3 classes were given'):
        ImageNetDataset(data_root=shapes_root, data_prefix='train', classes=['x', 'y', 'z'])
    with pytest.raises(ValueError, match='num_classes=3 but 4 classes were given'):
        ImageNetDataset(data_root=shapes_root, data_prefix='train', classes='meta/classes.txt', num_classes=3)
    with pytest.raises(FileNotFoundError, match='class file'):
        ImageNetDataset(data_root=shapes_root, data_prefix='train', classes='meta/nope.txt')


def _ann(tmp_path, shapes_root, text: str) -> str:
    root = tmp_path / 'ann'
    _copy_image(shapes_root, root / 'img' / 'a' / '1.JPEG')
    _copy_image(shapes_root, root / 'img' / 'b' / '2.JPEG')
    (root / 'meta').mkdir(exist_ok=True)
    (root / 'meta' / 'list.txt').write_text(text)
    return str(root)


def test_annotation_line_that_does_not_parse(tmp_path, shapes_root):
    root = _ann(tmp_path, shapes_root, 'a/1.JPEG 0\n\nb/2.JPEG two\n')
    with pytest.raises(ValueError) as e:
        ImageNetDataset(data_root=root, data_prefix='img', ann_file='meta/list.txt')
    msg = str(e.value)
    assert os.path.join(root, 'meta', 'list.txt') in msg and 'line 3' in msg and "'b/2.JPEG two'" in msg
    root = _ann(tmp_path, shapes_root, 'a/1.JPEG\n')
    with pytest.raises(ValueError, match='line 1: expected'):
        ImageNetDataset(data_root=root, data_prefix='img', ann_file='meta/list.txt')


@pytest.mark.parametrize(
    'kwargs, label, expected',
    [
        (dict(num_classes=2), 2, r'\[0, 2\)'),
        (dict(classes=['x', 'y']), 5, r'\[0, 2\)'),
        (dict(), -1, 'non-negative'),
    ],
)
def test_label_out_of_range(tmp_path, shapes_root, kwargs, label, expected):
    root = _ann(tmp_path, shapes_root, f'a/1.JPEG 0\nb/2.JPEG {label}\n')
    with pytest.raises(ValueError, match=expected) as e:
        ImageNetDataset(data_root=root, data_prefix='img', ann_file='meta/list.txt', **kwargs)
    msg = str(e.value)
    assert os.path.join(root, 'meta', 'list.txt') in msg and 'line 2' in msg and f'label {label}' in msg


def test_large_label_without_classes_is_accepted(tmp_path, shapes_root):
    root = _ann(tmp_path, shapes_root, 'a/1.JPEG 0\nb/2.JPEG 7\n')
    ds = ImageNetDataset(data_root=root, data_prefix='img', ann_file='meta/list.txt')
    assert ds.get_gt_labels().tolist() == [0, 7] and len(ds.metainfo['classes']) == 8


def test_annotated_image_that_does_not_exist(tmp_path, shapes_root):
    root = _ann(tmp_path, shapes_root, 'a/1.JPEG 0\nb/missing.JPEG 1\n')
    with pytest.raises(FileNotFoundError) as e:
        ImageNetDataset(data_root=root, data_prefix='img', ann_file='meta/list.txt')
    assert os.path.join(root, 'img', 'b', 'missing.JPEG') in str(e.value) and 'line 2' in str(e.value)


def test_corrupt_image_is_named_when_loaded(tmp_path, shapes_root):
    root = _ann(tmp_path, shapes_root, 'a/1.JPEG 0\nb/2.JPEG 1\n')
    bad = os.path.join(root, 'img', 'b', '2.JPEG')
    with open(bad, 'wb') as f:
        f.write(b'\xff\xd8\xff\xe0 truncated')
    ds = ImageNetDataset(
        data_root=root, data_prefix='img', ann_file='meta/list.txt', pipeline=[LoadImageFromFile(), PackClsInputs()]
    )
    assert ds[0]['inputs'].shape[0] == 3  # the intact sample loads
    with pytest.raises(RuntimeError) as e:
        ds[1]
    assert bad in str(e.value) and 'corrupt' in str(e.value)


# ---------------------------------------------------------------------- generator
def test_generator_is_deterministic_and_keeps_a_stamped_copy(tmp_path):
    a = make_shapes_imagenet(str(tmp_path / 'a'), num_classes=3, num_train=6, num_val=3, size=24, seed=2)
    b = make_shapes_imagenet(str(tmp_path / 'b'), num_classes=3, num_train=6, num_val=3, size=24, seed=2)
    for sub in ['meta'] + [f'{s}/{c}' for s in ('train', 'val') for c in CLASSES[:3]]:
        names = sorted(os.listdir(os.path.join(a, sub)))
        assert names and names == sorted(os.listdir(os.path.join(b, sub)))
        _, mismatch, errors = filecmp.cmpfiles(os.path.join(a, sub), os.path.join(b, sub), names, shallow=False)
        assert not mismatch and not errors
    assert open(os.path.join(a, 'meta', 'classes.txt')).read().split() == list(CLASSES[:3])
    assert open(os.path.join(a, 'meta', 'val.txt')).read().splitlines()[1] == f'{CLASSES[1]}/{CLASSES[1]}_00001.JPEG 1'
    stamp = os.path.getmtime(os.path.join(a, 'shapes.json'))
    first = os.path.join(a, 'train', CLASSES[0], f'{CLASSES[0]}_00000.JPEG')
    mtime = os.path.getmtime(first)
    assert make_shapes_imagenet(str(tmp_path / 'a'), num_classes=3, num_train=6, num_val=3, size=24, seed=2) == a
    assert os.path.getmtime(os.path.join(a, 'shapes.json')) == stamp and os.path.getmtime(first) == mtime
    c = make_shapes_imagenet(str(tmp_path / 'a'), num_classes=2, num_train=4, num_val=2, size=24, seed=2)
    assert sorted(os.listdir(os.path.join(c, 'train'))) == list(CLASSES[:2])  # rewritten, stale class gone
    ds = ImageNetDataset(data_root=c, data_prefix='val', ann_file='meta/val.txt', classes='meta/classes.txt')
    assert len(ds) == 2 and ds.metainfo['classes'] == CLASSES[:2]
    with pytest.raises(ValueError, match='num_classes'):
        make_shapes_imagenet(str(tmp_path / 'x'), num_classes=9)


def test_glyphs_generator_writes_ten_digit_classes_deterministically(tmp_path):
    a = make_glyphs_imagenet(str(tmp_path / 'a'), num_train=20, num_val=10, size=32, seed=1)
    b = make_glyphs_imagenet(str(tmp_path / 'b'), num_train=20, num_val=10, size=32, seed=1)
    classes = [f'n{k:07d}_{k}' for k in range(10)]
    assert open(os.path.join(a, 'meta', 'classes.txt')).read().split() == classes
    for sub in [f'{s}/{c}' for s in ('train', 'val') for c in classes]:
        names = sorted(os.listdir(os.path.join(a, sub)))
        assert names and not filecmp.cmpfiles(os.path.join(a, sub), os.path.join(b, sub), names, shallow=False)[1]
    ds = ImageNetDataset(data_root=a, data_prefix='train')
    assert len(ds) == 20 and ds.metainfo['classes'] == tuple(classes)
    img = cv2.imread(ds[0]['img_path'])
    assert img.shape == (32, 32, 3)
    # the digit is drawn light on a dark background and covers a good part of the image
    bright = (img.max(-1) > 150).mean()
    assert 0.05 < bright < 0.6
    with pytest.raises(ValueError, match='num_train=5 and num_val=10 must be at least num_classes=10'):
        make_glyphs_imagenet(str(tmp_path / 'x'), num_train=5, num_val=10)


def test_glyphs_generator_takes_other_characters_as_classes(tmp_path):
    """``classes``: one class per character; the digits' copy is not reused for them, and
    a bad character set is refused before anything is written."""
    digits = make_glyphs_imagenet(str(tmp_path / 'g'), num_train=10, num_val=10, size=32)
    before = open(os.path.join(digits, 'shapes.json')).read()  # the generators' stamp of their arguments
    root = make_glyphs_imagenet(str(tmp_path / 'g'), num_train=8, num_val=4, size=32, classes='0OI1')
    folders = ['n0000000_0', 'n0000001_O', 'n0000002_I', 'n0000003_1']
    assert open(os.path.join(root, 'meta', 'classes.txt')).read().split() == folders
    assert sorted(os.listdir(os.path.join(root, 'train'))) == folders  # the digits' folders are gone
    assert open(os.path.join(root, 'shapes.json')).read() != before
    ds = ImageNetDataset(data_root=root, data_prefix='val')
    assert len(ds) == 4 and [ds.get_data_info(i)['gt_label'] for i in range(4)] == [0, 1, 2, 3]
    assert cv2.imread(ds[1]['img_path']).shape == (32, 32, 3)
    for bad in ('00', 'a-b', ''):
        with pytest.raises(ValueError, match='must be at least 2 distinct ASCII letters or digits'):
            make_glyphs_imagenet(str(tmp_path / 'bad'), classes=bad)
    assert not os.path.exists(tmp_path / 'bad')


# ---------------------------------------------------------------------- transforms
def test_random_resized_crop_box_within_bounds():
    t = RandomResizedCrop(scale=224)
    np.random.seed(0)
    h, w = 400, 400  # square: accepting a draw does not favour wide or tall crops
    areas, ratios = [], []
    for _ in range(2000):
        top, left, ch, cw = t.get_params(h, w)
        assert 0 <= top and top + ch <= h and 0 <= left and left + cw <= w and ch > 0 and cw > 0
        areas.append(ch * cw / (h * w))
        ratios.append(cw / ch)
    # rounding the side lengths to pixels moves area and ratio by a few percent at most
    assert 0.08 * 0.97 <= min(areas) and max(areas) <= 1.0
    assert 3 / 4 * 0.97 <= min(ratios) and max(ratios) <= 4 / 3 * 1.03
    assert min(areas) < 0.15 and max(areas) > 0.9  # the whole range is drawn
    # log-ratio is uniform: about as many crops wider than tall as taller than wide
    assert abs(np.mean(np.log(ratios))) < 0.02


def test_random_resized_crop_fallback_clamps_the_ratio():
    t = RandomResizedCrop(scale=8, crop_scale=(0.99, 1.0))
    np.random.seed(1)
    assert t.get_params(100, 1000) == (0, (1000 - 133) // 2, 100, 133)  # too wide: height kept, 4/3
    assert t.get_params(1000, 100) == ((1000 - 133) // 2, 0, 133, 100)  # too tall: width kept, 3/4
    square = RandomResizedCrop(crop_scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert square.get_params(50, 50) == (0, 0, 50, 50)


def test_random_resized_crop_output_and_bicubic():
    img = np.random.RandomState(0).randint(0, 256, (120, 90, 3), dtype=np.uint8)
    t = RandomResizedCrop(scale=(48, 32))  # (width, height)
    np.random.seed(5)
    top, left, ch, cw = t.get_params(120, 90)
    np.random.seed(5)
    out = t(dict(img=img.copy()))
    assert out['img'].shape == (32, 48, 3) and out['img_shape'] == (32, 48) and out['img'].dtype == np.uint8
    crop = img[top : top + ch, left : left + cw]
    np.testing.assert_array_equal(out['img'], mmcv.imresize(crop, (48, 32), interpolation='bicubic'))
    assert not np.array_equal(out['img'], mmcv.imresize(crop, (48, 32), interpolation='bilinear'))
    with pytest.raises(ValueError, match='crop_scale'):
        RandomResizedCrop(crop_scale=(0.5, 0.1))
    with pytest.raises(ValueError, match='interpolation'):
        RandomResizedCrop(interpolation='cubic')


def test_mmcv_eval_resize_short_edge_and_centre_crop():
    img = np.zeros((200, 300, 3), np.uint8)  # h=200, w=300
    results = Resize(scale=(100000, 256), keep_ratio=True, interpolation='bicubic')(dict(img=img))
    assert results['img'].shape[:2] == (256, 384)
    results = CenterCrop(crop_size=224)(results)
    assert results['img'].shape[:2] == (224, 224) and results['img_shape'] == (224, 224)
    tall = Resize(scale=(100000, 256), keep_ratio=True)(dict(img=np.zeros((300, 200, 3), np.uint8)))
    assert tall['img'].shape[:2] == (384, 256)


def test_pack_cls_inputs():
    img = np.random.RandomState(0).randint(0, 256, (20, 30, 3), dtype=np.uint8)
    flipped = img[:, ::-1]  # not contiguous
    packed = PackClsInputs()(
        dict(
            img=flipped,
            gt_label=2,
            img_path='x.jpg',
            ori_shape=(20, 30),
            img_shape=(20, 30),
            flip=True,
            flip_direction='horizontal',
            other=1,
        )
    )
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 20, 30) and inputs.is_contiguous()
    assert torch.equal(inputs, torch.from_numpy(flipped.copy()).permute(2, 0, 1))  # BGR order kept
    assert isinstance(sample, BaseDataElement)
    assert sample.gt_label.dtype == torch.long and sample.gt_label.tolist() == [2]
    assert sample.metainfo == dict(
        img_path='x.jpg', ori_shape=(20, 30), img_shape=(20, 30), flip=True, flip_direction='horizontal'
    )
    bare = PackClsInputs()(dict(img=img[..., 0], img_path='y.jpg'))
    assert bare['inputs'].shape == (1, 20, 30) and 'gt_label' not in bare['data_samples']
    assert bare['data_samples'].metainfo == dict(img_path='y.jpg')


def test_training_pipeline_through_the_registry(shapes_root):
    from mmengine.registry import DATASETS, DefaultScope

    from mmconvnext.registry import TRANSFORMS

    assert TRANSFORMS.get('RandomResizedCrop') is RandomResizedCrop
    assert TRANSFORMS.get('PackClsInputs') is PackClsInputs
    with DefaultScope.overwrite_default_scope('mmconvnext'):  # as a config with default_scope='mmconvnext'
        ds = DATASETS.build(
            dict(
                type='ImageNetDataset',
                data_root=shapes_root,
                data_prefix='train',
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='RandomResizedCrop', scale=16),
                    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                    dict(type='PackClsInputs'),
                ],
            )
        )
    sample = ds[3]
    assert sample['inputs'].shape == (3, 16, 16) and sample['data_samples'].gt_label.tolist() == [1]
    assert sample['data_samples'].img_shape == (16, 16) and 'flip' in sample['data_samples'].metainfo
    assert len(ds) == 12
