"""The standalone runner (DIR/run.py, mmconvnext.deploy.standalone): an export run with numpy, OpenCV and a
runtime alone, in a process where importing torch, mmcv, mmdet, mmseg, mmengine or mmconvnext fails, predicts
what the toolkit's own inference (the config's pipeline in mmcv, PyTorch pre/post-processing) predicts from the
same export: the classifier's top-5 on a photograph of odd size and on generated images, UperNet's pixels per
class in whole-image and sliding-window mode."""

import copy
import json
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

pytest.importorskip('onnxruntime')
skimage_data = pytest.importorskip('skimage.data')

import cv2  # noqa: E402

from mmconvnext.apis import set_data_root  # noqa: E402
from mmconvnext.datasets import make_shapes_dataset, make_shapes_imagenet  # noqa: E402
from mmconvnext.deploy import export_model, inference, load_model  # noqa: E402

from ..conftest import ROOT  # noqa: E402

BLOCKED = ('torch', 'mmcv', 'mmdet', 'mmseg', 'mmengine', 'mmconvnext')
PRELUDE = (
    'import runpy, sys; '
    + ''.join(f'sys.modules[{m!r}] = None; ' for m in BLOCKED)
    + 'path = sys.argv[1]; sys.argv = sys.argv[1:]; runpy.run_path(path, run_name="__main__")'
)


def run_without_torch(directory, images, out_dir, backend='onnxruntime') -> list:
    cmd = [sys.executable, '-c', PRELUDE, f'{directory}/run.py', *map(str, images), '--backend', backend]
    run = subprocess.run(cmd + ['--out-dir', str(out_dir)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads((out_dir / 'predictions.json').read_text())


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('photos')
    paths = []
    for name in ('chelsea', 'coffee'):  # 300x451 and 400x600 photographs
        path = tmp / f'{name}.jpg'
        cv2.imwrite(str(path), getattr(skimage_data, name)()[..., ::-1])
        paths.append(path)
    return paths


def export(cfg, tmp, name) -> str:
    torch.manual_seed(0)
    model = load_model(copy.deepcopy(cfg), None)
    checkpoint = str(tmp / f'{name}.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    directory = str(tmp / name)
    export_model(copy.deepcopy(cfg), checkpoint, directory, fmt='openvino')
    return directory


def test_the_classifier_runs_without_torch(tmp_path, photos):
    cfg = Config.fromfile(ROOT / 'configs/convnext_tiny_in1k.py')
    cfg.merge_from_dict({'model.backbone.arch': 'atto', 'model.num_classes': 4})
    root = make_shapes_imagenet(str(tmp_path / 'data'), num_train=4, num_val=4, size=80)
    cfg.test_dataloader.dataset.data_root = root
    directory = export(cfg, tmp_path, 'cls')
    images = [*photos, *sorted((tmp_path / 'data').rglob('*.JPEG'))[:2]]
    inference(directory, [str(p) for p in images], 'onnxruntime', out_dir=str(tmp_path / 'want'))
    want = json.loads((tmp_path / 'want' / 'predictions.json').read_text())  # infer.py's records
    for backend in ('onnxruntime', 'openvino'):
        got = run_without_torch(directory, images, tmp_path / f'out_{backend}', backend)
        for g, w, path in zip(got, want, images):
            assert g['image'] == str(path)
            assert [c for c, _ in g['top5']] == [c for c, _ in w['top5']]
            assert max(abs(a - b) for (_, a), (_, b) in zip(g['top5'], w['top5'])) < 1e-4


@pytest.mark.parametrize('mode', ['whole', 'slide'])
def test_the_segmentor_runs_without_torch(tmp_path, photos, mode):
    cfg = Config.fromfile(ROOT / 'configs/upernet_convnext_atto_shapes_demo.py')
    set_data_root(cfg, make_shapes_dataset(str(tmp_path / 'data'), num_train=1, num_val=1))
    # the ADE20K configs' test resize (keep the ratio, short side 96 here), so the photographs change size
    cfg.test_dataloader.dataset.pipeline.insert(1, dict(type='Resize', scale=(384, 96), keep_ratio=True))
    if mode == 'slide':
        cfg.model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(48, 48))
        directory = export(cfg, tmp_path, 'seg_slide')
    else:
        cfg.model.data_preprocessor.size = None
        directory = str(tmp_path / 'seg_whole')
        torch.manual_seed(0)
        model = load_model(copy.deepcopy(cfg), None)
        torch.save({'state_dict': model.state_dict()}, str(tmp_path / 'seg.pth'))
        export_model(copy.deepcopy(cfg), str(tmp_path / 'seg.pth'), directory, shape=(64, 64), dynamic=True)
    inference(directory, [str(p) for p in photos], 'onnxruntime', out_dir=str(tmp_path / 'want'))
    want = json.loads((tmp_path / 'want' / 'predictions.json').read_text())
    got = run_without_torch(directory, photos, tmp_path / 'got')
    for g, w in zip(got, want):
        total = sum(w['pixels_per_class'].values())
        assert sum(g['pixels_per_class'].values()) == total
        classes = set(g['pixels_per_class']) | set(w['pixels_per_class'])
        # the same labels up to a few pixels where two classes' logits are within rounding of each other
        assert (
            sum(abs(g['pixels_per_class'].get(c, 0) - w['pixels_per_class'].get(c, 0)) for c in classes) <= total * 1e-3
        )


def test_a_detector_export_is_refused_by_name(tmp_path):
    from mmconvnext.deploy.standalone import StandaloneError, run

    (tmp_path / 'deploy.json').write_text(json.dumps({'task': 'detection', 'parts': {}}))
    with pytest.raises(
        StandaloneError,
        match="'detection' export needs mmdet/mmcv between its graphs .* export the detector with --end2end",
    ):
        run(str(tmp_path), [])
