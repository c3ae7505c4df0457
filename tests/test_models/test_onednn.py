"""The oneDNN CPU path of the blocks (``onednn_cpu=True``, the default) computes what the
plain eager ops compute: outputs and gradients within 1e-4 (relative), V1 and V2,
with activation checkpointing, after in-place weight updates, and under tracing."""

import pytest
import torch

from mmconvnext.models import ConvNeXt
from mmconvnext.models.layers import onednn

from ..conftest import TINY_ARCH

pytestmark = pytest.mark.skipif(not onednn.available(torch.zeros(1)), reason='no oneDNN CPU op in this torch build')


def pair(**kwargs):
    arch = {k: list(v) for k, v in TINY_ARCH.items()}
    plain = ConvNeXt(arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, onednn_cpu=False, **kwargs)
    for p in plain.parameters():  # non-trivial values everywhere (layer scale, GRN included)
        torch.nn.init.normal_(p, std=0.2)
    fast = ConvNeXt(arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, **kwargs)
    fast.load_state_dict(plain.state_dict())
    return plain, fast


def assert_close(a, b, tol=1e-4):
    assert ((a - b).abs().max() / a.abs().max().clamp_min(1e-12)).item() <= tol


@pytest.mark.parametrize('v2', [False, True])
def test_inference_outputs_equal_the_plain_ops(v2):
    plain, fast = pair(use_grn=v2, layer_scale_init_value=0.0 if v2 else 1e-6)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(plain.eval()(x), fast.eval()(x)):
            assert_close(a, b)
            assert b.is_contiguous()  # NCHW for consumers like mmcv's RoIAlign


@pytest.mark.parametrize('with_cp', [False, True])
def test_training_outputs_and_gradients_equal_the_plain_ops(with_cp):
    plain, fast = pair(with_cp=with_cp)
    x = torch.randn(2, 3, 64, 64)
    grads = []
    for model in (plain.train(), fast.train()):
        xi = x.clone().requires_grad_()
        outs = model(xi)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        grads.append([xi.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        assert_close(a, b)


def test_eval_with_input_gradients_uses_autograd():
    plain, fast = pair()
    x = torch.randn(1, 3, 32, 32)
    grads = []
    for model in (plain.eval(), fast.eval()):
        xi = x.clone().requires_grad_()
        model(xi)[-1].sum().backward()
        grads.append(xi.grad)
    assert_close(*grads)


@pytest.mark.parametrize('fused', [False, True])
def test_folded_layer_scale_follows_optimizer_steps(fused):
    """Inference after training steps sees the updated weights, also after a fused
    AdamW step (which updates parameters without bumping their tensor versions)."""
    plain, fast = pair()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        fast.eval()(x)
    for model in (plain, fast):
        opt = torch.optim.AdamW(model.parameters(), lr=0.1, fused=fused)
        model.train()(x)[-1].sum().backward()
        opt.step()
    with torch.no_grad():
        for a, b in zip(plain.eval()(x), fast.eval()(x)):
            assert_close(a, b, 1e-3)


def test_flop_counting_traces_the_plain_ops():
    from mmengine.analysis import FlopAnalyzer

    plain, fast = pair()
    x = torch.randn(1, 3, 32, 32)
    counts = [FlopAnalyzer(m.eval(), x).total() for m in (plain, fast)]
    assert counts[0] == counts[1] > 0
