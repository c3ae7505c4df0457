"""The backbone under autocast. CPU autocast (bf16, and fp16 where this torch supports it)
takes the dispatch path CUDA's AMP takes, so these tests prove the GPU's ``--amp`` here:

* ``with_cp`` gives the loss and gradients of ``with_cp=False`` under autocast (its
  recomputing autograd Function used to crash there: bf16 gradients met the fp32
  recomputation), for V1 and V2, Linear and 1x1-conv pointwise layers, oneDNN on and
  off, with frozen stages; every fp32 parameter gets a finite fp32 gradient;
* ``onednn_cpu=False`` is honoured by ``with_cp`` (no oneDNN call at all);
* a backward pass called inside an autocast region leaves an fp32 forward's gradients
  fp32 (the oneDNN Functions' backward runs with autocast off);
* eval outputs under autocast are within bf16/fp16 tolerance of fp32;
* GRN's norms do not overflow fp16; the classifier's batch augmentations run in fp32.
"""

import pytest
import torch

from mmconvnext.models import ConvNeXt
from mmconvnext.models.layers import GRN, onednn

from ..conftest import TINY_ARCH


def _cpu_autocast_supports(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast('cpu', dtype=dtype):
            return torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == dtype
    except RuntimeError:
        return False


DTYPES = [
    pytest.param(
        d,
        id=str(d).split('.')[-1],
        marks=pytest.mark.skipif(not _cpu_autocast_supports(d), reason=f'this torch has no CPU autocast for {d}'),
    )
    for d in (torch.bfloat16, torch.float16)
]
#: relative tolerance (max abs difference over max abs value) for a reduced-precision run
TOL = {torch.bfloat16: 3e-2, torch.float16: 5e-3}

VARIANTS = {
    'v1': {},
    'v1-plain-ops': dict(onednn_cpu=False),
    'v1-frozen': dict(frozen_stages=1),
    'v1-conv1x1': dict(linear_pw_conv=False),
    'v2': dict(use_grn=True, layer_scale_init_value=0.0),
    'v2-frozen-conv1x1': dict(use_grn=True, layer_scale_init_value=0.0, frozen_stages=2, linear_pw_conv=False),
}


def build(with_cp: bool = False, **kwargs) -> ConvNeXt:
    torch.manual_seed(0)
    model = ConvNeXt(
        {k: list(v) for k, v in TINY_ARCH.items()},
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        with_cp=with_cp,
        **kwargs,
    )
    with torch.no_grad():
        for p in model.parameters():  # non-trivial values everywhere (layer scale, GRN included)
            p.normal_(std=0.2)
    return model


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.float(), b.float()
    return ((a - b).abs().max() / a.abs().max().clamp_min(1e-12)).item()


def loss_and_grads(model: ConvNeXt, x: torch.Tensor, dtype):
    model.train()
    model.zero_grad(set_to_none=True)
    with torch.autocast('cpu', dtype=dtype, enabled=dtype is not None):
        outs = model(x)
        loss = sum((o.float() * torch.linspace(-1, 1, o.numel()).view_as(o)).mean() for o in outs)
    loss.backward()
    return loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('variant', list(VARIANTS))
def test_with_cp_equals_without_under_autocast(variant, dtype):
    kwargs = VARIANTS[variant]
    plain, ckpt = build(**kwargs), build(with_cp=True, **kwargs)
    x = torch.randn(2, 3, 64, 64)
    loss, grads = loss_and_grads(plain, x, dtype)
    loss_cp, grads_cp = loss_and_grads(ckpt, x, dtype)
    assert torch.isfinite(loss) and abs(loss - loss_cp) <= TOL[dtype] * loss.abs().clamp_min(1e-3)
    frozen = kwargs.get('frozen_stages', 0)
    expected = {
        n
        for n, p in plain.named_parameters()
        if not any(n.startswith(f'{m}.{i}.') for m in ('stages', 'downsample_layers') for i in range(frozen))
    }
    assert set(grads) == set(grads_cp) == expected
    for name, g in grads.items():
        g_cp = grads_cp[name]
        assert g is not None and g_cp is not None, name
        assert g.dtype == g_cp.dtype == torch.float32, name
        assert torch.isfinite(g_cp).all(), name
        assert rel_err(g, g_cp) <= TOL[dtype], (name, rel_err(g, g_cp))
    # and the autocast gradients are those of fp32, within the dtype's precision
    _, grads32 = loss_and_grads(plain, x, None)
    for name in ('stages.3.0.pointwise_conv1.weight', 'downsample_layers.3.1.weight'):
        assert rel_err(grads32[name], grads_cp[name]) <= 5 * TOL[dtype], name


def test_the_reported_crash():
    """The first thing a user tried: ConvNeXt(arch='atto', with_cp=True) under bf16 autocast."""
    model = ConvNeXt(arch='atto', with_cp=True).train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model(torch.randn(1, 3, 64, 64))[-1].float().sum()
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())


def test_with_cp_honours_onednn_cpu_false(monkeypatch):
    def no_onednn(*args, **kwargs):
        raise AssertionError('oneDNN called with onednn_cpu=False')

    monkeypatch.setattr(onednn, '_OP', no_onednn)
    model = build(with_cp=True, onednn_cpu=False)
    loss, grads = loss_and_grads(model, torch.randn(2, 3, 32, 32), None)
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads.values())


@pytest.mark.parametrize('with_cp', [False, True])
def test_backward_inside_autocast_keeps_fp32_gradients(with_cp):
    """An fp32 forward (the oneDNN path) whose backward is called inside an autocast region
    (on CPU the backward runs on the calling thread, under its autocast state)."""
    model = build(with_cp=with_cp).train()
    x = torch.randn(2, 3, 32, 32)
    grads = []
    for autocast_backward in (False, True):
        model.zero_grad(set_to_none=True)
        loss = sum(o.sum() for o in model(x))
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast_backward):
            loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name, g in grads[0].items():
        assert grads[1][name].dtype == torch.float32
        assert rel_err(g, grads[1][name]) <= 1e-5, name


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('variant', ['v1', 'v2'])
def test_eval_outputs_under_autocast_are_close_to_fp32(variant, dtype):
    model = build(**VARIANTS[variant]).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=dtype):
            outs = model(x)
    for a, b in zip(ref, outs):
        assert torch.isfinite(b).all() and rel_err(a, b) <= TOL[dtype]


@pytest.mark.parametrize('data_format', ['channel_last', 'channel_first'])
def test_grn_does_not_overflow_in_fp16(data_format):
    grn = GRN(8)
    with torch.no_grad():
        grn.gamma.uniform_(-1, 1)
        grn.beta.uniform_(-1, 1)
    x = 40 + 20 * torch.rand(2, 64, 64, 8)  # sum of squares per channel ~1e7, past fp16's 65504
    if data_format == 'channel_first':
        x = x.permute(0, 3, 1, 2).contiguous()
    ref = grn(x, data_format)
    half = grn(x.half(), data_format)
    assert torch.isfinite(half).all() and rel_err(ref, half) <= 5e-3


def test_classifier_augmentations_run_in_fp32_under_autocast():
    from mmconvnext.analysis import dummy_batch
    from mmconvnext.models.classifiers import ClsDataPreprocessor

    pre = ClsDataPreprocessor(
        num_classes=5,
        rand_augment=dict(num_ops=2, magnitude=9, magnitude_std=0.5),
        random_erasing=dict(prob=0.25),
        mixup_cutmix=dict(mixup_alpha=0.8, cutmix_alpha=1.0),
    )
    outs = []
    for enabled in (False, True):
        images, samples = dummy_batch('cls', 4, 32, 32, num_classes=5)
        torch.manual_seed(0)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=enabled):
            outs.append(pre(dict(inputs=images, data_samples=samples), training=True))
    assert outs[1]['inputs'].dtype == torch.float32
    assert torch.equal(outs[0]['inputs'], outs[1]['inputs'])
    assert all(torch.equal(a.gt_score, b.gt_score) for a, b in zip(outs[0]['data_samples'], outs[1]['data_samples']))
