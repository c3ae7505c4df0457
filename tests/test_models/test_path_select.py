"""The per-machine CPU path choice (``onednn_cpu='auto'``, the default): whichever path it picks computes
what the plain ops compute, the choice is cached per machine and reused, a corrupt cache
file is survived, and a forced path is honoured."""

import json
import os

import pytest
import torch

from mmconvnext.models.backbones import ConvNeXt
from mmconvnext.models.layers import onednn, path_select

pytestmark = pytest.mark.skipif(not onednn.available(torch.zeros(1)), reason='no oneDNN in this torch build')

ARCH = {'depths': [1, 1], 'channels': [16, 32]}


@pytest.fixture(autouse=True)
def auto_path(tmp_path, monkeypatch):
    """'auto' decides (the suite forces oneDNN elsewhere), with a cache of this test's own."""
    monkeypatch.delenv(path_select.ENV_PATH, raising=False)
    monkeypatch.setenv(path_select.ENV_CACHE, str(tmp_path / 'cache'))
    path_select.reset()
    yield
    path_select.reset()


def fake_timings(monkeypatch, onednn_wins: bool) -> list:
    """Replace the measurement by fixed times; returns the list of measured keys."""
    calls = []

    def measure(kind, rows, channels, hidden):
        calls.append((kind, rows, channels, hidden))
        return (2.0, 1.0) if onednn_wins else (1.0, 2.0)

    monkeypatch.setattr(path_select, '_measure', measure)
    return calls


def assert_close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> None:
    """Equal up to summation order: the largest difference within ``tol`` of the tensor's
    largest magnitude (element-wise ratios are meaningless for entries near zero)."""
    assert (a - b).abs().max() <= tol * b.abs().max().clamp(min=1e-12), (a - b).abs().max()


def outputs_and_grads(model, x):
    outs = model(x)
    # a fixed random projection: sum(o * o) of a LayerNorm's output is constant, so its
    # gradients would be rounding noise
    gen = torch.Generator().manual_seed(1)
    sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs).backward()
    return [o.detach() for o in outs] + [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize('onednn_wins', [True, False])
def test_either_choice_matches_the_plain_ops(monkeypatch, onednn_wins):
    calls = fake_timings(monkeypatch, onednn_wins)
    torch.manual_seed(0)
    plain = ConvNeXt(ARCH, out_indices=(0, 1), gap_before_final_norm=False, onednn_cpu=False)
    auto = ConvNeXt(ARCH, out_indices=(0, 1), gap_before_final_norm=False, onednn_cpu='auto')
    auto.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    used = []
    real_linear = onednn.linear
    monkeypatch.setattr(onednn, 'linear', lambda *a: used.append(1) or real_linear(*a))
    for a, b in zip(outputs_and_grads(auto, x), outputs_and_grads(plain, x)):
        assert_close(a, b)
    assert bool(used) == onednn_wins  # the measured winner ran
    assert {c[0] for c in calls} == {'train'} and len(calls) == 2  # one measurement per stage shape
    with torch.no_grad():  # inference: its own measurement, same results
        auto.eval(), plain.eval()
        for a, b in zip(auto(x), plain(x)):
            assert_close(a, b)
    assert {c[0] for c in calls} == {'train', 'infer'}


def test_the_cache_is_reused_across_processes(monkeypatch):
    calls = fake_timings(monkeypatch, onednn_wins=True)
    model = ConvNeXt(ARCH, onednn_cpu='auto').eval()
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert len(calls) == 2
    data = json.load(open(path_select.cache_file()))
    assert data['machine']['threads'] == torch.get_num_threads()
    assert all(e['onednn'] for e in data['choices'].values()) and len(data['choices']) == 2
    path_select.reset()  # a new process: only the file remains
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
        model(torch.randn(1, 3, 30, 30))  # same power-of-two row bucket: no new measurement
    assert len(calls) == 2
    assert path_select.describe().count('oneDNN') == 2


def test_a_corrupt_cache_file_is_survived_and_rewritten(monkeypatch):
    calls = fake_timings(monkeypatch, onednn_wins=False)
    path = path_select.cache_file()
    os.makedirs(os.path.dirname(path))
    for garbage in ('{not json', json.dumps({'choices': {'k': {'onednn': 'yes'}}})):
        with open(path, 'w') as f:
            f.write(garbage)
        path_select.reset()
        with torch.no_grad():
            ConvNeXt(ARCH, onednn_cpu='auto').eval()(torch.randn(1, 3, 32, 32))
        data = json.load(open(path))  # valid again, with the new choices
        assert len(data['choices']) == 2 and not any(e['onednn'] for e in data['choices'].values())
    assert len(calls) == 4


@pytest.mark.parametrize('forced, env', [(True, None), (False, None), ('auto', 'onednn'), ('auto', 'plain')])
def test_a_forced_path_is_honoured_without_measuring(monkeypatch, forced, env):
    calls = fake_timings(monkeypatch, onednn_wins=forced is False or env == 'plain')  # the opposite of forced
    if env:
        monkeypatch.setenv(path_select.ENV_PATH, env)
    used = []
    real_linear = onednn.linear
    monkeypatch.setattr(onednn, 'linear', lambda *a: used.append(1) or real_linear(*a))
    model = ConvNeXt(ARCH, onednn_cpu=forced)
    model(torch.randn(1, 3, 32, 32)).__getitem__(0).sum().backward()
    assert bool(used) == (forced is True or env == 'onednn')
    assert not calls


def test_bad_switch_values_are_refused(monkeypatch):
    with pytest.raises(ValueError, match='onednn_cpu must be'):
        ConvNeXt(ARCH, onednn_cpu='fast')
    monkeypatch.setenv(path_select.ENV_PATH, 'fastest')
    with pytest.raises(ValueError, match='MMCONVNEXT_CPU_PATH'):
        ConvNeXt(ARCH, onednn_cpu='auto')(torch.randn(1, 3, 32, 32))


def test_the_real_measurement_times_both_paths():
    plain_ms, onednn_ms = path_select._measure('train', 64, 16, 64)
    assert plain_ms > 0 and onednn_ms > 0
    plain_ms, onednn_ms = path_select._measure('infer', 64, 16, 64)
    assert plain_ms > 0 and onednn_ms > 0


def test_under_autocast_auto_takes_the_plain_path_without_measuring(monkeypatch):
    """bf16 autocast has no oneDNN path: 'auto' neither measures nor differs from the plain ops."""
    calls = fake_timings(monkeypatch, onednn_wins=True)
    torch.manual_seed(0)
    plain = ConvNeXt(ARCH, out_indices=(0, 1), gap_before_final_norm=False, onednn_cpu=False)
    auto = ConvNeXt(ARCH, out_indices=(0, 1), gap_before_final_norm=False, onednn_cpu='auto')
    auto.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        results = [outputs_and_grads(m, x) for m in (auto, plain)]
    for a, b in zip(*results):
        assert torch.equal(a, b)
    assert not calls
