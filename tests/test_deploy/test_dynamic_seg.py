"""UperNet exported with --dynamic: the pyramid pooling's adaptive bins are computed in the graph, so one export
matches PyTorch at sizes whose maps the bins do not divide, including sizes that are not multiples of 32, on both
runtimes; and the config's whole-image test mode runs through the export on such images with PyTorch's metrics."""

import copy

import pytest
import torch
from mmengine.config import Config

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from mmconvnext.apis import set_data_root  # noqa: E402
from mmconvnext.datasets import make_shapes_dataset  # noqa: E402
from mmconvnext.deploy import available_backends, check_export, export_model, load_model  # noqa: E402
from mmconvnext.deploy.accuracy import evaluate  # noqa: E402

from ..conftest import ROOT  # noqa: E402

SEG = 'configs/upernet_convnext_atto_shapes_demo.py'
#: (H, W): last-stage maps 3x2, 3x5 and 4x2 that the 2-, 3- and 6-bin pools do not divide; two are not
#: multiples of 32
SIZES = ((100, 75), (96, 160), (130, 70))


@pytest.fixture(scope='module')
def dynamic_export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('dynamic_seg')
    cfg = Config.fromfile(ROOT / SEG)
    cfg.model.data_preprocessor.size = None  # the test images keep their own, odd, size (no padding)
    # every test image resized to 90x70 (W x H): whole-image inference at a size that is no multiple of 32
    cfg.test_dataloader.dataset.pipeline.insert(1, dict(type='Resize', scale=(90, 70), keep_ratio=False))
    cfg.test_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.val_dataloader = cfg.test_dataloader
    set_data_root(cfg, make_shapes_dataset(str(tmp / 'data'), num_train=1, num_val=3))
    torch.manual_seed(0)
    model = load_model(copy.deepcopy(cfg), None)
    checkpoint = str(tmp / 'seg.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    directory = str(tmp / 'export')
    meta = export_model(copy.deepcopy(cfg), checkpoint, directory, fmt='openvino', shape=(64, 64), dynamic=True)
    return cfg, checkpoint, directory, model, meta, tmp


def test_one_dynamic_export_matches_pytorch_at_sizes_the_bins_do_not_divide(dynamic_export):
    cfg, checkpoint, directory, model, meta, _ = dynamic_export
    assert meta['dynamic'] and meta['parts']['segmentor']['input_shapes'] == [[-1, 3, -1, -1]]
    for size in SIZES:
        lines = check_export(cfg, checkpoint, directory, backends=available_backends(), shape=size, model=model)
        assert len(lines) == len(available_backends()) and all(f'[1, 3, {size[0]}, {size[1]}]' in x for x in lines)


def test_whole_image_mode_runs_through_the_dynamic_export(dynamic_export):
    """The config's test loop (whole-image mode, 70x90 images) on the export, every PyTorch weight NaN: the
    same mIoU and per-pixel predictions as PyTorch."""
    cfg, checkpoint, directory, _, _, tmp = dynamic_export

    reference, ref_pred = evaluate(cfg, tmp / 'work_pytorch', checkpoint)
    assert tuple(ref_pred[0].img_shape) == (70, 90)  # what the model saw
    for backend in available_backends():
        metrics, pred = evaluate(cfg, tmp / f'work_{backend}', checkpoint, directory, backend)
        assert abs(metrics['mIoU'] - reference['mIoU']) <= 1e-6
        for r, p in zip(ref_pred, pred):
            assert (r.pred_sem_seg.data != p.pred_sem_seg.data).float().mean() < 1e-3
