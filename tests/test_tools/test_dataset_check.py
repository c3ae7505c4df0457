"""tools/dataset_check.py and the bad-sample errors of training, on the photograph datasets with one
problem of each kind planted: each is named with its file, the exit code is 1 exactly when a problem would
crash or silently corrupt training, and --show draws samples after the training pipeline."""

import json
import shutil
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from mmconvnext.apis import use_custom_data
from mmconvnext.datasets import make_photo_coco, make_photo_folders, make_photo_seg

from ..conftest import ROOT, tool_env

pytest.importorskip('skimage', reason='the photograph datasets need scikit-image (requirements-dev.txt)')

SEG = 'configs/upernet_convnext_tiny_ade20k.py'
DET = 'configs/mask_rcnn_convnext_tiny_coco_1x.py'
CLS = 'configs/convnext_tiny_in1k.py'
SMALL_SEG = [
    'train_dataloader.dataset.pipeline.2.scale=(128,64)',
    'train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
    'train_dataloader.num_workers=0',
]


@pytest.fixture(scope='module')
def clean(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('check')
    return dict(
        tmp=tmp,
        seg=make_photo_seg(str(tmp / 'seg')),
        det=make_photo_coco(str(tmp / 'det')),
        cls=make_photo_folders(str(tmp / 'cls'), per_class=3, val_per_class=1),
    )


def _check(config, data_root, *extra, code):
    run = __import__('subprocess').run(
        [sys.executable, 'tools/dataset_check.py', config, '--data-root', data_root, *extra],
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == code, (run.stdout + run.stderr)[-4000:]
    return run.stdout


@pytest.mark.parametrize('task,config', [('seg', SEG), ('det', DET), ('cls', CLS)])
def test_clean_data_passes_and_show_draws_after_the_pipeline(clean, task, config):
    vis = clean['tmp'] / f'vis_{task}'
    extra = ['--cfg-options', *SMALL_SEG] if task == 'seg' else []
    out = _check(config, clean[task], '--show', '3', '--out-dir', str(vis), *extra, code=0)
    assert 'OK (0 error(s)' in out and '== train' in out and '== val' in out
    unit = {'seg': 'pixels', 'det': 'instances', 'cls': 'images'}[task]
    assert unit in out and 'sizes' in out
    names = {'seg': ('shadow', 'highlight'), 'det': ('coin', 'glare'), 'cls': ('kitten', 'portrait')}[task]
    assert all(n in out for n in names)
    drawn = sorted(vis.glob('*.png'))
    assert len(drawn) == 3 and 'drew 3 training samples' in out
    if task == 'seg':  # drawn after RandomResize + RandomCrop (at most 64x64): the model's view, not the file
        for f in drawn:
            img = cv2.imread(str(f))
            assert max(img.shape[:2]) <= 64, img.shape


def _labels(path):
    """A label map's indices (PIL: a palette PNG's indices, not its colours)."""
    from PIL import Image

    with Image.open(path) as img:
        return np.array(img)


def _write(path, labels):
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(labels)).save(path)


def _planted_seg(clean, tmp, unpaired=True):
    root = tmp / 'seg_bad'
    shutil.copytree(clean['seg'], root)
    img, ann = root / 'images', root / 'annotations'
    (img / 'train' / 'coffee.png').write_bytes(b'not an image at all')  # unreadable
    data = (img / 'train' / 'astronaut_301x451.jpg').read_bytes()
    (img / 'train' / 'astronaut_301x451.jpg').write_bytes(data[: len(data) // 2])  # truncated
    seg = _labels(ann / 'train' / 'camera_grey.png')
    _write(ann / 'train' / 'camera_grey.png', seg[:-10])  # a label map 10 rows short
    seg = _labels(ann / 'train' / 'coins_grey.png')
    seg[50:60, 50:60] = 7
    _write(ann / 'train' / 'coins_grey.png', seg)  # a value beyond the 3 classes
    # the EXIF-turned JPEG's label map drawn for the stored (unturned) pixels: the classic misalignment
    seg = _labels(ann / 'train' / 'chelsea_exif.png')
    _write(ann / 'train' / 'chelsea_exif.png', np.rot90(seg, 1))
    seg = _labels(ann / 'val' / 'coffee_val.png')
    _write(ann / 'val' / 'coffee_val.png', np.full_like(seg, 255))  # nothing labelled
    cv2.imwrite(str(ann / 'val' / 'astronaut_val.png'), np.stack([seg] * 3, -1))  # a colour label map
    if unpaired:
        (ann / 'train' / 'rocket_rgba.png').unlink()  # an image without its label map
    shutil.copy(img / 'train' / 'camera_grey.jpg', img / 'val' / 'camera_copy.jpg')  # train image in val
    _write(ann / 'val' / 'camera_copy.png', np.zeros((255, 255), np.uint8))
    return root


def test_every_segmentation_problem_is_named_with_its_file(clean, tmp_path):
    root = _planted_seg(clean, tmp_path)
    out = _check(SEG, str(root), code=1)
    img, ann = root / 'images', root / 'annotations'
    expected = [
        ('ERROR', img / 'train' / 'coffee.png', 'not a decodable image'),
        ('ERROR', img / 'train' / 'astronaut_301x451.jpg', 'truncated image, the file ends early'),
        ('ERROR', ann / 'train' / 'camera_grey.png', 'label map is 245x255 but its image camera_grey.jpg is 255x255'),
        ('ERROR', ann / 'train' / 'coins_grey.png', 'label values [7] are outside the 3 classes'),
        ('ERROR', ann / 'train' / 'chelsea_exif.png', 'its EXIF orientation 6 turns the image when it is decoded'),
        ('ERROR', ann / 'val' / 'astronaut_val.png', 'not colours'),
        ('ERROR', img / 'train' / 'rocket_rgba.png', 'no label map'),
        ('WARNING', ann / 'val' / 'coffee_val.png', 'no labelled pixel'),
        ('WARNING', img / 'val' / 'camera_copy.jpg', 'the same image (same bytes) is in train'),
    ]
    for level, path, message in expected:
        line = [x for x in out.splitlines() if f'{level} {path}:' in x]
        assert line and message in line[0], (level, path, message, out)
    assert 'FAIL: fix the errors before training (7 error(s), 2 warning(s))' in out


def test_warnings_alone_exit_zero(clean, tmp_path):
    root = tmp_path / 'seg_warn'
    shutil.copytree(clean['seg'], root)
    seg = _labels(root / 'annotations' / 'val' / 'coffee_val.png')
    _write(root / 'annotations' / 'val' / 'coffee_val.png', np.full_like(seg, 255))
    out = _check(SEG, str(root), code=0)
    assert 'OK (0 error(s), 1 warning(s))' in out and 'no labelled pixel' in out


def test_every_detection_problem_is_named(clean, tmp_path):
    root = tmp_path / 'det_bad'
    shutil.copytree(clean['det'], root)
    ann_file = root / 'annotations' / 'train.json'
    data = json.loads(ann_file.read_text())
    data['annotations'][0]['category_id'] = 42  # unknown category
    data['annotations'][1]['bbox'] = [5000.0, 5000.0, 10.0, 10.0]  # outside the image
    data['annotations'][3]['bbox'] = [10.0, 10.0, 0.0, 5.0]  # zero area
    data['images'].append(dict(id=99, file_name='gone.jpg', height=10, width=10))  # listed, missing
    coffee = next(i['id'] for i in data['images'] if i['file_name'] == 'coffee.jpg')
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] != coffee]  # no annotations
    ann_file.write_text(json.dumps(data))
    out = _check(DET, str(root), code=1)
    first = root / 'images' / 'coins_a.jpg'
    expected = [
        ('ERROR', first, 'category_id 42 is not among the categories [3, 7]'),
        ('ERROR', first, 'bbox [5000.0, 5000.0, 10.0, 10.0] lies outside'),
        ('WARNING', first, 'has zero area'),
        ('ERROR', root / 'images' / 'gone.jpg', 'listed but missing'),
        ('WARNING', root / 'images' / 'coffee.jpg', 'no annotations'),
    ]
    for level, path, message in expected:
        assert any(f'{level} {path}:' in x and message in x for x in out.splitlines()), (message, out)


def test_classification_folder_that_is_not_a_class(clean, tmp_path):
    root = tmp_path / 'cls_bad'
    shutil.copytree(clean['cls'], root)
    shutil.copytree(root / 'val' / 'mug', root / 'val' / 'zebra')
    cfg = Config.fromfile(ROOT / CLS)
    use_custom_data(cfg, str(root))
    from mmconvnext.apis.dataset_check import check_config_data

    reports = {r.split: r for r in check_config_data(cfg)}
    problems = [(p.level, p.path, p.message) for p in reports['val'].problems]
    assert (
        'error',
        str(root / 'val' / 'zebra'),
        "class folder 'zebra' is not one of the classes ('kitten', 'mug', 'portrait')",
    ) in problems
    assert reports['train'].counts == {'kitten': 3, 'mug': 3, 'portrait': 3}


def test_awkward_image_modes_load_as_rgb(tmp_path):
    """Grey and CMYK JPEGs, RGBA and 16-bit PNGs, an EXIF-turned JPEG: 3-channel 8-bit as the pipeline loads
    them (mmcv's cv2 colour decode), the EXIF-turned one turned back."""
    import mmcv

    root = make_photo_folders(str(tmp_path / 'cls'), per_class=8, val_per_class=0)
    files = sorted((tmp_path / 'cls' / 'train').rglob('*.*'))
    assert root and len(files) == 24
    kinds = set()
    from PIL import Image

    for f in files:
        with Image.open(f) as img:
            kinds.add(img.mode)
        arr = mmcv.imread(str(f))
        assert arr.dtype == np.uint8 and arr.shape == (72, 72, 3), (f, arr.shape, arr.dtype)
    assert {'L', 'RGBA', 'CMYK', 'RGB'} <= kinds
    wide = [f for f in files if cv2.imread(str(f), cv2.IMREAD_UNCHANGED).dtype == np.uint16]
    assert len(wide) == 3  # one 16-bit PNG per class
    turned = [f for f in files if 'exif' in f.name or _orientation(f) == 6]
    assert len(turned) == 3
    for f in turned:  # stored turned a quarter; decoded upright, as the crop was made
        with Image.open(f) as img:
            stored = np.asarray(img.convert('RGB'))
        upright = mmcv.imread(str(f), channel_order='rgb')
        assert np.abs(np.rot90(upright, 1).astype(int) - stored.astype(int)).mean() < 3


def _orientation(path):
    from mmconvnext.datasets.errors import exif_orientation

    return exif_orientation(str(path))


# ----------------------------------------------------------------------------- during training
def _seg_dataset(root, **kwargs):
    from mmengine.registry import init_default_scope

    from mmconvnext.datasets import SegFolderDataset

    init_default_scope('mmseg')
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', reduce_zero_label=False),
        dict(type='RandomCrop', crop_size=(32, 32)),
        dict(type='PackSegInputs'),
    ]
    return SegFolderDataset(
        data_root=str(root),
        data_prefix=dict(img_path='images/train', seg_map_path='annotations/train'),
        metainfo=dict(classes=('shadow', 'midtone', 'highlight')),
        pipeline=pipeline,
        **kwargs,
    )


def test_training_names_the_bad_sample_and_the_remedy(clean, tmp_path):
    from mmconvnext.datasets.errors import BadSampleError

    root = _planted_seg(clean, tmp_path, unpaired=False)  # an unpaired image stops the dataset before training
    dataset = _seg_dataset(root, serialize_data=False)
    files = [d['img_path'] for d in dataset.data_list]
    bad = {
        'coffee.png': 'not a decodable image',
        'camera_grey.jpg': 'is 255x255 but its label map',
        'chelsea_exif.jpg': 'EXIF orientation 6 rotates the image',
    }
    for name, why in bad.items():
        idx = next(i for i, f in enumerate(files) if f.endswith(name))
        with pytest.raises(BadSampleError) as e:
            dataset[idx]
        assert name in str(e.value) and why in str(e.value) and 'skip_bad_samples=True' in str(e.value), str(e.value)


def test_skip_bad_samples_skips_and_counts(clean, tmp_path, caplog):
    from mmengine.logging import MMLogger

    root = tmp_path / 'seg_one_bad'
    shutil.copytree(clean['seg'], root)
    (root / 'images' / 'train' / 'coffee.png').write_bytes(b'garbage')
    dataset = _seg_dataset(root, serialize_data=False, skip_bad_samples=True)
    logger = MMLogger.get_instance('skip_test', log_level='WARNING')
    idx = next(i for i, d in enumerate(dataset.data_list) if d['img_path'].endswith('coffee.png'))
    with caplog.at_level('WARNING'):
        logger.propagate = True
        sample = dataset[idx]  # another sample in its place
    assert sample['inputs'].shape[-2:] == (32, 32)
    assert dataset.bad_samples_skipped >= 1  # the sample drawn in its place may be the bad one again
    test_set = _seg_dataset(root, serialize_data=False, skip_bad_samples=True, test_mode=True)
    with pytest.raises(Exception, match='coffee.png'):  # never in evaluation: a metric would skip it silently
        test_set[idx]
