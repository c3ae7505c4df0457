"""The ImageNet classifier: forward modes, losses, head init, the data preprocessor, and
foreign classifier checkpoints loaded with their heads."""

import re
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement

from mmconvnext.models.classifiers import ClsDataPreprocessor, ConvNeXtClassifier, soft_target_cross_entropy
from mmconvnext.registry import MODELS

from ..conftest import TINY_ARCH
from ..test_checkpoint import official_key, timm_key


def make_classifier(num_classes=5, **kwargs) -> ConvNeXtClassifier:
    backbone = dict(
        type='mmconvnext.ConvNeXt',
        arch={k: list(v) for k, v in TINY_ARCH.items()},
        gap_before_final_norm=True,
        out_indices=-1,
    )
    model = MODELS.build(
        dict(
            type='mmconvnext.ConvNeXtClassifier',
            backbone=backbone,
            num_classes=num_classes,
            data_preprocessor=dict(type='mmconvnext.ClsDataPreprocessor'),
            **kwargs,
        )
    )
    model.init_weights()
    return model


def samples(labels):
    return [BaseDataElement(gt_label=torch.tensor([label])) for label in labels]


def test_forward_modes_and_losses():
    model = make_classifier(label_smoothing=0.1)
    x = torch.randn(4, 3, 32, 32)
    logits = model(x, mode='tensor')
    assert logits.shape == (4, 5)
    labels = [0, 1, 2, 4]
    loss = model(x, samples(labels), mode='loss')['loss']
    assert torch.allclose(loss, F.cross_entropy(logits, torch.tensor(labels), label_smoothing=0.1))
    soft = torch.softmax(torch.randn(4, 5), -1)
    with_scores = samples(labels)
    for s, t in zip(with_scores, soft):
        s.gt_score = t
    expected = -(soft * F.log_softmax(logits, -1)).sum(-1).mean()
    assert torch.allclose(model(x, with_scores, mode='loss')['loss'], expected)
    assert torch.allclose(soft_target_cross_entropy(logits, soft), expected)
    preds = model(x, samples(labels), mode='predict')
    assert torch.allclose(preds[0].pred_score, torch.softmax(logits[0], -1))
    assert preds[0].pred_label.item() == logits[0].argmax().item()
    with pytest.raises(ValueError, match='mode'):
        model(x, mode='nope')


def test_every_parameter_gets_a_gradient():
    model = make_classifier()
    model(torch.randn(2, 3, 32, 32), samples([0, 3]), mode='loss')['loss'].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_head_init_scale():
    big, small = make_classifier(num_classes=1000), make_classifier(num_classes=1000, head_init_scale=0.001)
    assert 0.015 < big.head.fc.weight.std() < 0.025 and not big.head.fc.bias.any()
    assert 0.015e-3 < small.head.fc.weight.std() < 0.025e-3


def test_backbone_must_pool_and_return_one_output():
    arch = {k: list(v) for k, v in TINY_ARCH.items()}
    with pytest.raises(ValueError, match='gap_before_final_norm'):
        ConvNeXtClassifier(dict(type='mmconvnext.ConvNeXt', arch=arch, gap_before_final_norm=False), 5)
    with pytest.raises(ValueError, match='exactly one output'):
        ConvNeXtClassifier(dict(type='mmconvnext.ConvNeXt', arch=arch, out_indices=(2, 3)), 5)


def test_preprocessor_gets_num_classes_and_smoothing_from_the_model():
    backbone = dict(type='mmconvnext.ConvNeXt', arch={k: list(v) for k, v in TINY_ARCH.items()})
    model = ConvNeXtClassifier(
        backbone,
        7,
        label_smoothing=0.2,
        data_preprocessor=dict(
            type='mmconvnext.ClsDataPreprocessor', mixup_cutmix=dict(mixup_alpha=0.8, cutmix_alpha=1.0)
        ),
    )
    assert model.data_preprocessor.mixup_cutmix.num_classes == 7
    assert model.data_preprocessor.mixup_cutmix.label_smoothing == 0.2


def test_preprocessor_train_and_eval():
    pre = ClsDataPreprocessor(
        num_classes=4,
        rand_augment=dict(),
        random_erasing=dict(prob=1.0),
        mixup_cutmix=dict(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1),
    )
    imgs = [torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8) for _ in range(4)]
    data = dict(inputs=imgs, data_samples=samples([0, 1, 2, 3]))
    out = pre(data, training=False)  # evaluation: BGR -> RGB and normalisation only
    expected = (torch.stack(imgs).float().flip(1) - pre.mean) / pre.std
    assert torch.allclose(out['inputs'], expected)
    assert 'gt_score' not in out['data_samples'][0]
    out = pre(dict(inputs=imgs, data_samples=samples([0, 1, 2, 3])), training=True)
    assert out['inputs'].shape == (4, 3, 16, 16) and not torch.allclose(out['inputs'], expected)
    scores = torch.stack([s.gt_score for s in out['data_samples']])
    assert torch.allclose(scores.sum(-1), torch.ones(4)) and (scores >= 0.1 / 4 - 1e-6).all()
    with pytest.raises(ValueError, match='share a size'):
        pre(dict(inputs=[imgs[0], torch.zeros(3, 8, 8, dtype=torch.uint8)]), training=False)
    with pytest.raises(ValueError, match='num_classes'):
        ClsDataPreprocessor(mixup_cutmix=dict())


def _foreign(model: ConvNeXtClassifier, fmt: str) -> dict:
    """The model's weights in another project's classifier layout."""
    out = OrderedDict()
    for key, value in model.state_dict().items():
        if key.startswith('backbone.'):
            name = key[len('backbone.') :]
            out[official_key(name) if fmt == 'official' else timm_key(name)] = value
    if fmt == 'official':
        out['head.weight'], out['head.bias'] = model.head.fc.weight, model.head.fc.bias
        return {'model': out, 'epoch': 299}
    out['head.fc.weight'], out['head.fc.bias'] = model.head.fc.weight, model.head.fc.bias
    return out


@pytest.mark.parametrize('fmt', ['official', 'timm', 'mmpretrain'])
def test_foreign_classifier_checkpoints_load_with_their_heads(fmt):
    src = make_classifier()
    for p in src.parameters():
        torch.nn.init.normal_(p)
    state = src.state_dict() if fmt == 'mmpretrain' else _foreign(src, fmt)
    if fmt == 'timm':
        assert not any(re.match(r'backbone\.', k) for k in state)
    dst = make_classifier()
    from mmengine.runner.checkpoint import _load_checkpoint_to_model

    _load_checkpoint_to_model(dst, state if 'model' in state else {'state_dict': state}, strict=True)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(dst(x), src(x))
