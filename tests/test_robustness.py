"""Bad inputs a user can give, each answered by an error that names the file, key or value at fault, and
nothing existing damaged. The table of all of them, with the tests that already covered some before this
file, is docs/robustness.md."""

import copy
import io
import json
import logging
import os
import shutil
import sys

import cv2
import pytest
import torch
from mmengine.config import Config

from mmconvnext.apis import build_model
from mmconvnext.checkpoint import CheckpointError, load_pretrained
from mmconvnext.datasets import (
    ImageNetDataset,
    ShapesADE20KDataset,
    ShapesCocoDataset,
    make_shapes_coco,
    make_shapes_dataset,
    make_shapes_imagenet,
)
from mmconvnext.engine import ResumableRunner, ResumeError
from mmconvnext.engine.checkpointing import find_resumable_checkpoint
from mmconvnext.models import ConvNeXt

from .conftest import ROOT, TINY_ARCH, run_tool_failing, tool_env

SEG_DEMO = 'configs/upernet_convnext_atto_shapes_demo.py'


def tiny_convnext() -> ConvNeXt:
    return ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()})


def snapshot(directory) -> dict:
    """Every file under ``directory`` with its bytes: compared before and after a failure."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob('*')) if p.is_file()}


# ---------------------------------------------------------------------- config
def test_misspelled_config_keys_are_named():
    cfg = Config.fromfile(str(ROOT / SEG_DEMO))
    cfg.merge_from_dict({'model.backbone.out_indice': (0, 1, 2, 3)})  # as --cfg-options would
    with pytest.raises(TypeError, match=r"ConvNeXt.__init__\(\) got an unexpected keyword argument 'out_indice'"):
        build_model(cfg, 'meta')
    with pytest.raises(TypeError, match="unexpected keyword argument 'data_prefx'"):
        ImageNetDataset(data_root='data/imagenet', data_prefx='train')


# ---------------------------------------------------------------------- checkpoints
def test_truncated_or_empty_checkpoint_is_named_and_nothing_is_loaded(tmp_path):
    """A checkpoint cut short (a copy interrupted, a download that stopped) names the file; the model keeps
    its weights and the file is left as it is."""
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': tiny_convnext().state_dict()}, good)
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    model = tiny_convnext()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_pretrained(model, str(cut))
    msg = str(info.value)
    assert msg.startswith(f'{cut}: not a readable checkpoint (corrupt, truncated or not a torch/pickle file)')
    assert 'failed finding central directory' in msg
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match=r'empty\.pth: not a readable checkpoint .*: the file is empty'):
        load_pretrained(model, str(empty))
    from safetensors.torch import save_file

    st = tmp_path / 'model.safetensors'
    save_file({k: v.contiguous() for k, v in tiny_convnext().state_dict().items()}, str(st))
    st.write_bytes(st.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r'model\.safetensors: not a readable checkpoint \(SafetensorError'):
        load_pretrained(model, str(st))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert cut.stat().st_size == good.stat().st_size // 2 and empty.stat().st_size == 0


def test_checkpoint_of_another_arch_loads_nothing(tmp_path):
    """The shape mismatch is refused before any tensor is copied: the model keeps its weights."""
    other = ConvNeXt({'depths': [1, 1, 3, 1], 'channels': [16, 32, 64, 128]})
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': other.state_dict()}, path)
    data = path.read_bytes()
    model = tiny_convnext()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match='is it a checkpoint of another arch'):
        load_pretrained(model, str(path))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert path.read_bytes() == data


# ---------------------------------------------------------------------- datasets: COCO
@pytest.fixture(scope='module')
def coco_root(tmp_path_factory) -> str:
    return make_shapes_coco(str(tmp_path_factory.mktemp('coco')), num_train=2, num_val=2, size=48)


@pytest.fixture(scope='module')
def coco_ann(coco_root) -> dict:
    with open(os.path.join(coco_root, 'annotations', 'instances_val2017.json')) as f:
        return json.load(f)


def coco_dataset(coco_root, ann_file, **kwargs):
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    return ShapesCocoDataset(
        data_root=coco_root, ann_file=str(ann_file), data_prefix=dict(img='val2017/'), pipeline=[], **kwargs
    )


def coco_error(tmp_path, coco_root, content, **kwargs) -> str:
    bad = tmp_path / 'bad.json'
    bad.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValueError) as info:
        coco_dataset(coco_root, bad, **kwargs)
    msg = str(info.value)
    assert repr(str(bad)) in msg, msg
    return msg


def test_coco_missing_keys_are_named(tmp_path, coco_root, coco_ann):
    prefix = 'ShapesCocoDataset: malformed COCO annotation file'
    ann = copy.deepcopy(coco_ann)
    del ann['annotations'][1]['bbox']
    assert coco_error(tmp_path, coco_root, ann).startswith(prefix)
    assert coco_error(tmp_path, coco_root, ann).endswith(": annotations[1] lacks ['bbox']")
    ann = copy.deepcopy(coco_ann)
    del ann['images'][0]['file_name']
    assert coco_error(tmp_path, coco_root, ann).endswith(": images[0] lacks ['file_name']")
    ann = copy.deepcopy(coco_ann)
    del ann['categories']
    assert coco_error(tmp_path, coco_root, ann).endswith(": no 'categories' list at the top level")
    msg = coco_error(tmp_path, coco_root, '{"images": [{"id": 1,')
    assert msg.startswith(prefix) and ': not valid JSON (line 1, column 22: Expecting property name' in msg


def test_coco_annotation_of_an_unknown_image_or_category_is_refused(tmp_path, coco_root, coco_ann):
    """pycocotools files an annotation of an unlisted image under that id and mmdet never asks for it:
    without the check it was dropped without a word."""
    ann = copy.deepcopy(coco_ann)
    ann['annotations'][0]['image_id'] = 999
    msg = coco_error(tmp_path, coco_root, ann)
    assert msg.endswith(f'annotations[0] (id {ann["annotations"][0]["id"]}): image_id 999 is not among the images')
    ann = copy.deepcopy(coco_ann)
    ann['annotations'][0]['category_id'] = 99
    assert coco_error(tmp_path, coco_root, ann).endswith('category_id 99 is not among the categories')


def test_coco_empty_dataset_is_named(tmp_path, coco_root, coco_ann):
    """No images, or none left after filter_cfg: was mmengine's "need at least one array to concatenate"."""
    msg = coco_error(tmp_path, coco_root, dict(coco_ann, images=[], annotations=[]))
    assert msg.endswith("lists no images (its 'images' list is empty)")
    msg = coco_error(
        tmp_path,
        coco_root,
        coco_ann,
        metainfo=dict(classes=('cat', 'dog')),
        filter_cfg=dict(filter_empty_gt=True, min_size=0),
    )
    assert 'none of the 2 images of' in msg and "none of the classes ('cat', 'dog') is a category name" in msg


def test_coco_missing_files_and_corrupt_image_are_named(tmp_path, coco_root):
    with pytest.raises(FileNotFoundError, match=r"ShapesCocoDataset: annotation file '.*nope\.json' not found"):
        coco_dataset(coco_root, tmp_path / 'nope.json')
    root = tmp_path / 'coco'
    shutil.copytree(coco_root, root)
    ann_file = root / 'annotations' / 'instances_val2017.json'
    shutil.rmtree(root / 'val2017')
    with pytest.raises(FileNotFoundError, match=r"image directory '.*val2017/' not found"):
        coco_dataset(str(root), ann_file)
    shutil.copytree(os.path.join(coco_root, 'val2017'), root / 'val2017')
    bad = sorted((root / 'val2017').iterdir())[1]
    bad.write_bytes(b'\xff\xd8\xff\xe0 cut short')
    from mmcv.transforms import LoadImageFromFile

    ds = coco_dataset(str(root), ann_file)
    ds.pipeline.transforms.append(LoadImageFromFile())
    ds[0]  # the intact image loads
    with pytest.raises(RuntimeError) as info:
        ds[1]
    assert f'{bad}: not a decodable image (corrupt or truncated?)' in str(info.value)


# ---------------------------------------------------------------------- datasets: segmentation labels
SEG_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]


@pytest.fixture
def seg_root(tmp_path) -> str:
    return make_shapes_dataset(str(tmp_path), num_train=2, num_val=1, size=32)


def seg_dataset(root: str, **kwargs) -> ShapesADE20KDataset:
    from mmengine.registry import init_default_scope

    init_default_scope('mmseg')
    prefix = dict(img_path='images/training', seg_map_path='annotations/training')
    return ShapesADE20KDataset(data_root=root, data_prefix=prefix, pipeline=SEG_PIPELINE, **kwargs)


def test_label_map_value_outside_the_classes_is_named(seg_root):
    """Was torch's "IndexError: Target 8 is out of bounds." from the loss (a device-side assert on a GPU),
    and no count in the IoU metric."""
    path = os.path.join(seg_root, 'annotations', 'training', 'shapes_training_00001.png')
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    label[:4, :4] = 9  # 5 classes: with reduce_zero_label the file may hold 0..5
    cv2.imwrite(path, label)
    ds = seg_dataset(seg_root)
    ds[0]  # an intact label map loads
    with pytest.raises(ValueError) as info:
        ds[1]
    assert str(info.value) == (
        f"ShapesADE20KDataset: label map '{path}' holds class index(es) [8] outside 0..4 (the 5 classes) or 255 "
        '(ignored): with reduce_zero_label=True the file value 0 means "unlabelled" and a value v is class v-1, '
        'so the file may hold 0..5 (and 255); it holds [9]'
    )


def test_label_maps_not_matching_reduce_zero_label_are_named(seg_root):
    """ADE20K-style maps (0 = unlabelled, classes from 1) read without reduce_zero_label: the last class is
    out of range, and the error says which setting fits."""
    ds = seg_dataset(seg_root, reduce_zero_label=False)
    with pytest.raises(ValueError) as info:
        ds[0]
    msg = str(info.value)
    assert 'shapes_training_00000.png' in msg and 'holds class index(es) [5] outside 0..4 (the 5 classes)' in msg
    assert msg.endswith('the classes start at 1, set reduce_zero_label=True')


# ---------------------------------------------------------------------- datasets: ImageNet labels
def test_imagenet_meta_label_out_of_range_names_file_and_line(tmp_path):
    root = make_shapes_imagenet(str(tmp_path), num_classes=4, num_train=4, num_val=4, size=16)
    train_txt = os.path.join(root, 'meta', 'train.txt')
    with open(train_txt, 'a') as f:
        f.write('n0000000_disc/n0000000_disc_00000.JPEG 4\n')  # a fifth class that the 4 classes lack
    with pytest.raises(ValueError) as info:
        ImageNetDataset(data_root=root, data_prefix='train', ann_file='meta/train.txt', num_classes=4)
    assert str(info.value) == (
        f"ImageNetDataset: '{train_txt}', line 5: label 4 is out of range, expected [0, 4) (num_classes=4)"
    )
    val_txt = os.path.join(root, 'meta', 'val.txt')
    with open(val_txt, 'a') as f:
        f.write('n0000001_box/n0000001_box_00001.JPEG 7\n')
    with pytest.raises(ValueError, match=r"val\.txt', line 5: label 7 is out of range, expected \[0, 4\) \(4 classes"):
        ImageNetDataset(data_root=root, data_prefix='val', ann_file='meta/val.txt', classes='meta/classes.txt')


# ---------------------------------------------------------------------- resume
def test_resume_without_a_checkpoint_warns_and_starts_from_the_beginning(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'notes.txt').write_text('kept')
    (work / 'iter_x.pth.bak').write_bytes(b'not a candidate')
    before = snapshot(work)
    notes = []
    path, _ = ResumableRunner._resume_target(dict(work_dir=str(work)), notes)
    assert path is None
    assert notes == [
        (logging.WARNING, f'--resume: no checkpoint to resume from in {work}; training starts from the beginning')
    ]
    assert snapshot(work) == before


def test_unreadable_latest_checkpoint_is_named_and_the_previous_one_used(tmp_path):
    """``--resume`` alone: a truncated checkpoint named by ``last_checkpoint``, or an empty ``last_checkpoint``,
    is reported by name and the newest checkpoint that opens is used; neither file is touched."""
    work = tmp_path / 'work'
    work.mkdir()
    good = work / 'iter_2.pth'
    torch.save({'meta': {'iter': 2}, 'state_dict': tiny_convnext().state_dict()}, good)
    cut = work / 'iter_4.pth'
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (work / 'last_checkpoint').write_text(str(cut))
    checkpoints = {p.name: p.read_bytes() for p in (good, cut)}
    stream = io.StringIO()
    logger = logging.getLogger('test_robustness.resume')
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        assert find_resumable_checkpoint(str(work), logger) == str(good)
        text = stream.getvalue()
        assert f'{cut} cannot be resumed from (RuntimeError: PytorchStreamReader failed reading zip archive' in text
        assert 'trying the previous checkpoint' in text and f'resuming from {good} instead' in text
        (work / 'last_checkpoint').write_text('')
        assert find_resumable_checkpoint(str(work), logger) == str(good)
    finally:
        logger.removeHandler(handler)
    assert f'{work / "last_checkpoint"} is empty; looking for checkpoints in {work}' in stream.getvalue()
    assert {p.name: p.read_bytes() for p in (good, cut)} == checkpoints


def test_explicit_resume_of_a_missing_truncated_foreign_or_weights_only_file_is_refused(tmp_path):
    missing = tmp_path / 'iter_8.pth'
    with pytest.raises(ResumeError, match=rf'^--resume {missing}: cannot resume from it \(no such file\)$'):
        ResumableRunner._resume_target(dict(work_dir=str(tmp_path), load_from=str(missing)), [])
    whole = tmp_path / 'whole.pth'
    torch.save({'meta': {'iter': 4}, 'state_dict': tiny_convnext().state_dict()}, whole)
    cut = tmp_path / 'iter_4.pth'
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    data = cut.read_bytes()
    with pytest.raises(ResumeError) as info:
        ResumableRunner._resume_target(dict(work_dir=str(tmp_path), load_from=str(cut)), [])
    assert str(info.value).startswith(f'--resume {cut}: cannot resume from it (RuntimeError: PytorchStreamReader')
    assert cut.read_bytes() == data  # left for the user to inspect
    junk = tmp_path / 'notes.pth'
    junk.write_text('not a checkpoint')  # was torch's "mmap can only be used with files saved with ..."
    with pytest.raises(
        ResumeError, match=r'\(not a checkpoint: torch.save writes a zip archive and this file is not one\)$'
    ):
        ResumableRunner._resume_target(dict(work_dir=str(tmp_path), load_from=str(junk)), [])
    weights = tmp_path / 'weights.pth'
    torch.save(tiny_convnext().state_dict(), weights)
    with pytest.raises(ResumeError, match=r'not a training checkpoint \(it has no meta and state_dict'):
        ResumableRunner._resume_target(dict(work_dir=str(tmp_path), load_from=str(weights)), [])


# ---------------------------------------------------------------------- tools/train.py --data-root
def test_train_with_a_wrong_data_root_names_it_and_keeps_the_work_dir(tmp_path):
    """--data-root at a directory that exists but is not the dataset (its parent, say): the error names the
    directory expected; the checkpoints and last_checkpoint of the work dir are left as they were."""
    wrong = tmp_path / 'shapes_ade'  # holds ADEChallengeData2016/, one level too high
    (wrong / 'ADEChallengeData2016').mkdir(parents=True)
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'iter_2.pth').write_bytes(b'an earlier run')
    (work / 'last_checkpoint').write_text(str(work / 'iter_2.pth'))
    before = {n: (work / n).read_bytes() for n in ('iter_2.pth', 'last_checkpoint')}
    cmd = [sys.executable, 'tools/train.py', SEG_DEMO, '--work-dir', str(work), '--data-root', str(wrong)]
    last = run_tool_failing(cmd, tool_env()).strip().splitlines()[-1]
    assert last.startswith('FileNotFoundError: ShapesADE20KDataset: dataset not found, missing directory')
    assert repr(str(wrong / 'images' / 'training')) in last and 'make_shapes_dataset' in last
    assert {n: (work / n).read_bytes() for n in before} == before
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_2.pth']


# ---------------------------------------------------------------------- gaps closed
def test_misspelled_cfg_option_is_refused_and_a_new_key_accepted():
    """``--cfg-options optim_wraper.optimizer.lr=0.1`` used to add a key nothing reads (the run kept its lr)."""
    import argparse

    from mmconvnext.apis import apply_cli_args, load_config

    def apply(options):
        cfg = load_config(str(ROOT / SEG_DEMO))
        return apply_cli_args(cfg, argparse.Namespace(config=SEG_DEMO, cfg_options=options))

    with pytest.raises(KeyError, match=r"optim_wraper\.optimizer\.lr: the config has no key 'optim_wraper'; did you"):
        apply({'optim_wraper.optimizer.lr': 0.1})
    with pytest.raises(KeyError, match=r"model\.backbone has no key 'drop_path_rat'; did you mean 'model\.backbone"):
        apply({'model.backbone.drop_path_rat': 0.1})
    cfg = apply({'optim_wrapper.optimizer.lr': 0.1, 'my_note': 'kept', 'model.backbone.with_cp': True})
    assert cfg.optim_wrapper.optimizer.lr == 0.1 and cfg.my_note == 'kept' and cfg.model.backbone.with_cp


def test_classification_label_outside_the_model_classes_names_the_image():
    """An annotation file's label >= the model's num_classes used to fail in the loss as "Target 1000 is out of
    bounds" (mixup: "index 1000 is out of bounds"), naming no image."""
    from mmengine.structures import BaseDataElement

    from mmconvnext.models.classifiers.data_preprocessor import ClsDataPreprocessor

    pre = ClsDataPreprocessor(num_classes=4, mixup_cutmix=dict(mixup_alpha=0.8, cutmix_alpha=1.0))
    samples = [
        BaseDataElement(gt_label=torch.tensor([label]), metainfo=dict(img_path=f'train/{i}.jpg'))
        for i, label in enumerate([0, 3, 4])
    ]
    data = dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8)] * 3, data_samples=samples)
    with pytest.raises(ValueError, match=r'1 sample\(s\) of this batch have a label outside 0\.\.3 \(the model has '
                       r'num_classes=4\), e.g\. train/2\.jpg \(label \[4\]\)'):  # fmt: skip
        pre(data, training=True)
    samples[2].gt_label = torch.tensor([2])
    assert pre(data, training=True)['inputs'].shape == (3, 3, 8, 8)


def test_truncated_load_from_is_named_before_torch_reads_it(tmp_path):
    """``load_from`` / ``tools/test.py CHECKPOINT`` go through mmengine's loader, whose torch error named no file."""
    from .test_engine.test_resumable import make_runner

    runner = make_runner(ResumableRunner, tmp_path / 'work', False, 0, 1)
    whole = tmp_path / 'model.pth'
    torch.save({'state_dict': runner.model.state_dict()}, whole)
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=rf'^{cut}: cannot load this checkpoint \(RuntimeError: PytorchStream'):
        runner.load_checkpoint(str(cut))
    (tmp_path / 'empty.pth').write_bytes(b'')
    with pytest.raises(CheckpointError, match=r'empty.pth: cannot load this checkpoint \(the file is empty\)$'):
        runner.load_checkpoint(str(tmp_path / 'empty.pth'))
    assert runner.load_checkpoint(str(whole))['state_dict'].keys() == runner.model.state_dict().keys()
