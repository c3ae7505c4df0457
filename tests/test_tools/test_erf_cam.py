"""The effective receptive field and class activation maps: mmconvnext.analysis.erf / .cam and the tools
tools/analysis/erf.py and tools/analysis/cam.py (docs/erf_cam.md).

Everything runs one thread: the tiny models here are faster so, and a second thread only waits on a busy
2-core machine."""

import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from mmconvnext.analysis.cam import grad_cam, overlay, segmentation_class_maps
from mmconvnext.analysis.erf import (
    StageOutputs,
    accumulate_erf,
    display_map,
    image_paths,
    mass_areas,
    pixel_area,
    square_area,
    without_pretrained,
)
from tests.conftest import ROOT, run_tool, tool_env


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _dw_convs(depth: int, channels: int = 4) -> nn.Module:
    return nn.Sequential(*[nn.Conv2d(channels, channels, 7, padding=3, groups=channels) for _ in range(depth)])


def _noise_batches(count: int, size: int, channels: int = 4, batch: int = 2):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(batch, channels, size, size, generator=g) for _ in range(count)]


# ---------------------------------------------------------------------------- ERF
def test_erf_of_one_7x7_depthwise_conv_is_exactly_its_window():
    (erf,) = accumulate_erf(_dw_convs(1), _noise_batches(2, 33))
    assert erf.shape == (33, 33)
    rows, cols = np.nonzero(erf)
    # the central output (16, 16) reads the inputs 13..19 in both directions, and every one of them
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (13, 19, 13, 19)
    assert np.count_nonzero(erf) == 49
    areas = mass_areas(erf)
    assert areas['square']['0.9']['side'] <= 7 and areas['pixels']['0.9']['area_px'] <= 49
    assert mass_areas(erf, fractions=[1.0])['square']['1']['side'] == 7


def test_erf_grows_with_stacked_convs():
    shallow, deep = (accumulate_erf(_dw_convs(d), _noise_batches(2, 41))[0] for d in (1, 3))
    assert np.count_nonzero(deep) == 19 * 19  # 3 x (7 - 1) + 1
    for kind in ('square', 'pixels'):
        assert mass_areas(deep)[kind]['0.9']['area_px'] > 2 * mass_areas(shallow)[kind]['0.9']['area_px']


def test_erf_grows_over_convnext_stages(tiny_arch):
    from mmconvnext.models import ConvNeXt

    # layer scale 1: untrained blocks that add to the residual stream (at 1e-6 the stem and the downsampling
    # layers alone would make the ERF); the classifier trunk's pooled output is bypassed by StageOutputs
    backbone = ConvNeXt(tiny_arch, layer_scale_init_value=1.0, out_indices=-1, gap_before_final_norm=True)
    backbone.init_weights()
    model = StageOutputs(backbone)
    assert [tuple(y.shape[-2:]) for y in model(torch.zeros(1, 3, 64, 64))] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    maps = accumulate_erf(model, _noise_batches(2, 64, channels=3), stages=[0, 2])
    small, large = (mass_areas(m)['square']['0.9']['area_px'] for m in maps)
    assert large > 2 * small
    # the stage-0 map cannot reach beyond its theoretical field: 4 (stem) + 6 x 4 (one 7x7 block at stride 4)
    rows, cols = np.nonzero(maps[0])
    assert rows.max() - rows.min() + 1 <= 28 and cols.max() - cols.min() + 1 <= 28


def test_mass_areas_on_known_maps():
    point = np.zeros((9, 9))
    point[4, 4] = 5.0
    assert square_area(point, 0.9) == dict(side=1, area_px=1, fraction_of_input=1 / 81)
    flat = np.ones((10, 10))
    assert pixel_area(flat, 0.5) == dict(area_px=50, fraction_of_input=0.5)
    assert square_area(flat, 0.9)['side'] == 10  # 9 x 9 holds 81%
    assert square_area(flat, 0.81)['side'] == 9
    # an off-centre blob: the square follows the centre of mass
    blob = np.zeros((20, 20))
    blob[2:5, 13:16] = 1.0
    areas = mass_areas(blob, fractions=[1.0])
    assert areas['centre'] == [3.0, 14.0] and areas['square']['1']['side'] == 3
    shown = display_map(blob)
    assert shown.max() == 1.0 and shown.min() == 0.0
    with pytest.raises(ValueError, match='fraction'):
        pixel_area(flat, 0.0)


def test_without_pretrained_and_image_paths(tmp_path):
    cfg = dict(
        backbone=dict(type='X', init_cfg=dict(type='Pretrained', checkpoint='https://x')),
        head=dict(init_cfg=[dict(type='Normal'), dict(type='Pretrained', checkpoint='y')]),
    )
    stripped = without_pretrained(cfg)
    assert stripped['backbone']['init_cfg'] is None and stripped['head']['init_cfg'] == [dict(type='Normal')]
    assert cfg['backbone']['init_cfg']['type'] == 'Pretrained'  # the input is left alone
    for cls in 'ab':
        (tmp_path / cls).mkdir()
        for i in range(3):
            (tmp_path / cls / f'{i}.JPEG').write_bytes(b'')
    (tmp_path / 'notes.txt').write_text('')
    picked = image_paths([str(tmp_path)], limit=2)
    assert [p.split('/')[-2] for p in picked] == ['a', 'b']  # spread over the classes
    with pytest.raises(FileNotFoundError):
        image_paths([str(tmp_path / 'missing')])


# ---------------------------------------------------------------------------- CAM
CUE = 6  # side of the planted square


def _cue_batch(n: int, g: torch.Generator, label=None):
    """32x32 uniform noise; class 1 images carry a bright CUE x CUE square at a random place, class 0 none."""
    x = torch.rand(n, 3, 32, 32, generator=g)
    y = torch.randint(0, 2, (n,), generator=g) if label is None else torch.full((n,), label)
    boxes = []
    for i in range(n):
        r, c = torch.randint(0, 32 - CUE + 1, (2,), generator=g).tolist()
        boxes.append((r, c))
        if y[i] == 1:
            x[i, :, r : r + CUE, c : c + CUE] = 1.0
    return (x - 0.5) / 0.29, y, boxes


class _CueNet(nn.Module):
    """Three 3x3 convs, global average pooling, a linear head: Grad-CAM at ``features`` is then exactly the
    original CAM (Zhou et al. 2016), a known answer. (A tiny ConvNeXt classifier learns the task as fast, but
    how well its Grad-CAM, whose channel weights are gradients through the LayerNorm after the pooling, sat on
    the cue varied from one training run to another.)"""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1, stride=2),
            nn.ReLU(),
        )
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


def test_grad_cam_of_a_trained_classifier_finds_the_planted_cue():
    torch.manual_seed(0)
    model = _CueNet()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    x, _, boxes = _cue_batch(16, torch.Generator().manual_seed(99), label=1)
    x0, _, _ = _cue_batch(16, torch.Generator().manual_seed(98), label=0)
    accuracy = 0.0
    for step in range(1, 301):  # until it has learned the cue (about 60 steps, a few seconds)
        xb, yb, _ = _cue_batch(32, g)
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0:
            with torch.no_grad():
                accuracy = ((model(x).argmax(1) == 1).float().mean() + (model(x0).argmax(1) == 0).float().mean()) / 2
            if accuracy >= 0.95:
                break
    assert accuracy >= 0.95, f'the classifier did not learn the cue (accuracy {accuracy:.2f})'

    model.eval()
    cam = grad_cam(model, x, model.features, lambda logits: logits[:, 1])
    assert (
        cam.shape == (16, 32, 32) and float(cam.min()) >= 0 and torch.allclose(cam.flatten(1).amax(1), torch.ones(16))
    )
    with torch.no_grad():  # the original CAM: the class's head weights over the features
        expected = torch.einsum('c,nchw->nhw', model.fc.weight[1], model.features(x)).relu()
        expected = nn.functional.interpolate(expected[:, None], size=(32, 32), mode='bilinear')[:, 0]
    assert torch.allclose(cam, expected / expected.flatten(1).amax(1)[:, None, None], atol=1e-5)
    inside, outside, share, peaks = [], [], [], 0
    for i, (r, c) in enumerate(boxes):
        box = torch.zeros(32, 32, dtype=torch.bool)
        box[r : r + CUE, c : c + CUE] = True
        inside.append(float(cam[i][box].mean()))
        outside.append(float(cam[i][~box].mean()))
        share.append(float(cam[i][box].sum() / cam[i].sum()))
        pr, pc = divmod(int(cam[i].argmax()), 32)
        peaks += r - 2 <= pr < r + CUE + 2 and c - 2 <= pc < c + CUE + 2  # within 2 px of the box
    # the box is 3.5% of the image: a map blind to the cue would put about that share of its mass there
    assert np.mean(inside) > 5 * np.mean(outside), (inside, outside)
    assert min(share) > 0.2, share
    assert peaks >= 14, f'the CAM peaks at the cue in {peaks} of 16 images'


def test_segmentation_class_maps_of_a_toy_segmentor():
    torch.manual_seed(0)
    seg = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 1, stride=2)).eval()
    x = torch.randn(2, 3, 16, 16)
    probs, labels = segmentation_class_maps(seg, x)
    assert labels.shape == (2, 16, 16) and sorted(probs) == sorted(int(k) for k in labels.unique())
    full, _ = segmentation_class_maps(seg, x, classes=[0, 1, 2])
    assert torch.allclose(sum(full.values()), torch.ones(2, 16, 16), atol=1e-5)
    cams, _ = segmentation_class_maps(seg, x, classes=[0, 2], mode='gradcam', layer=seg[1])
    assert all(m.shape == (2, 16, 16) and float(m.max()) <= 1 for m in cams.values())
    with pytest.raises(ValueError, match='outside'):
        segmentation_class_maps(seg, x, classes=[3])
    image = np.full((16, 16, 3), 100, np.uint8)
    drawn = overlay(image, cams[0][0].numpy())
    assert drawn.shape == image.shape and drawn.dtype == np.uint8


# ---------------------------------------------------------------------------- the tools
TINY_CLS_CONFIG = """
_base_ = [{base!r}]
model = dict(
    backbone=dict(arch=dict(_delete_=True, depths=[1, 1, 1, 1], channels=[8, 16, 32, 64]), drop_path_rate=0.0),
    num_classes=3,
)
"""


def test_erf_and_cam_tools_end_to_end(tmp_path):
    import cv2

    from mmconvnext.analysis.erf import read_image, to_input
    from mmconvnext.apis import build_model, load_config
    from mmconvnext.datasets import make_glyphs_imagenet

    config = tmp_path / 'convnext_tiny_test_cls.py'
    config.write_text(textwrap.dedent(TINY_CLS_CONFIG.format(base=str(ROOT / 'configs' / 'convnext_tiny_in1k.py'))))
    cfg = load_config(str(config))
    model = build_model(cfg).eval()
    for p in model.parameters():  # weights no initialisation gives: the tools must have loaded them
        nn.init.normal_(p, std=0.1)
    checkpoint = tmp_path / 'cls.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    images = make_glyphs_imagenet(str(tmp_path / 'data'), num_train=10, num_val=10)
    env = tool_env()

    out = tmp_path / 'erf'
    log = run_tool(
        [sys.executable, 'tools/analysis/erf.py', str(config), str(checkpoint), '--images', f'{images}/val']
        + ['--num-images', '4', '--size', '64', '--out-dir', str(out)],
        env,
    )
    assert 'Loaded' in log
    record = json.loads((out / 'erf.json').read_text())
    assert record['trained'] and record['images']['count'] == 4 and record['input_size'] == [64, 64]
    assert [s['stride'] for s in record['stages']] == [4, 8, 16, 32]
    for stage in record['stages']:
        assert set(stage['square']) == set(stage['pixels']) == {'0.2', '0.5', '0.9'}
        assert 0 < stage['square']['0.9']['fraction_of_input'] <= 1
    assert all(
        (out / f).stat().st_size > 0 for f in ['erf.png', 'erf_maps.npz'] + [f'erf_stage{i}.png' for i in range(4)]
    )

    out = tmp_path / 'cam_cls'
    image = f'{images}/val/n0000003_3/n0000003_3_00003.JPEG'
    run_tool(
        [sys.executable, 'tools/analysis/cam.py', str(config), str(checkpoint), '--images', image]
        + ['--size', '64', '--layer', 'backbone.stages.1', '--classes', '0', '2', '--out-dir', str(out)],
        env,
    )
    result = json.loads((out / 'cam.json').read_text())
    (entry,) = result['images']
    assert result['task'] == 'classification' and sorted(entry['maps']) == ['0', '2']
    with torch.no_grad():
        probs = model(to_input([read_image(image)], (64, 64), cfg), mode='tensor').softmax(1)[0]
    # the checkpoint's model, fed as the tool feeds it
    assert {t['cls']: t['prob'] for t in entry['top5']} == pytest.approx(dict(enumerate(probs.tolist())), abs=1e-3)
    assert cv2.imread(entry['maps']['2']).shape == (64, 64, 3)

    out = tmp_path / 'cam_seg'
    seg_image = tmp_path / 'scene.png'
    cv2.imwrite(str(seg_image), np.random.default_rng(0).integers(0, 256, (60, 70, 3), dtype=np.uint8))
    run_tool(
        [sys.executable, 'tools/analysis/cam.py', 'configs/upernet_convnext_atto_shapes_demo.py']
        + ['--images', str(seg_image), '--seg-mode', 'gradcam', '--classes', '0', '3', '--out-dir', str(out)],
        env,
    )
    result = json.loads((out / 'cam.json').read_text())
    (entry,) = result['images']
    assert result['task'] == 'segmentation' and result['layer'] == 'decode_head.fpn_bottleneck'
    assert entry['input_size'] == [64, 64] and sorted(entry['maps']) == ['0', '3']
    assert entry['maps']['3'].endswith('scene_class3_triangle.png')
    assert abs(sum(v['pixels'] for v in entry['predicted'].values()) - 1) < 1e-3
    assert cv2.imread(entry['maps']['0']).shape == (64, 64, 3)
