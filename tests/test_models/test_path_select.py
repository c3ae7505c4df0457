"""The per-machine CPU path choice (``onednn_cpu='auto'``, the default): made before the model runs
(``tune_model``), never inside ``forward``; whichever path it picks computes what the plain ops compute; the
choice is cached per machine and reused, recorded and followed from a record; a corrupt cache file is
survived, and a forced path is honoured."""

import json
import os
import stat

import pytest
import torch

from mmconvnext.models.backbones import ConvNeXt
from mmconvnext.models.layers import depthwise_kernel, onednn, path_select

from ..conftest import fake_timings

pytestmark = [
    pytest.mark.skipif(not onednn.available(torch.zeros(1)), reason='no oneDNN in this torch build'),
    pytest.mark.usefixtures('auto_cpu_path'),  # 'auto' decides, with a cache of each test's own
]

ARCH = {'depths': [1, 1], 'channels': [16, 32]}


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


def tuned(model, x, train):
    return path_select.tune_model(model, x.shape, train=train)


@pytest.mark.parametrize('onednn_wins', [True, False])
def test_either_choice_matches_the_plain_ops(monkeypatch, onednn_wins):
    """Also the depthwise gradients' choice: the compiled kernels for both where oneDNN wins here, aten else."""
    calls = fake_timings(monkeypatch, onednn_wins, kernel_wins=onednn_wins)
    torch.manual_seed(0)
    plain = ConvNeXt(ARCH, out_indices=(0, 1), gap_before_final_norm=False, onednn_cpu=False)
    auto = ConvNeXt(ARCH, out_indices=(0, 1), gap_before_final_norm=False, onednn_cpu='auto')
    auto.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    table = tuned(auto, x, train=True)
    assert {c[0] for c in calls} == {'train'} and len(calls) == 2  # one measurement per stage shape
    pointwise = sorted(k for k in table if not k.startswith('dw:'))
    assert pointwise == ['train:rows=128:c=16:h=64', 'train:rows=32:c=32:h=128']
    assert all(table[k]['source'] == 'measured' and table[k]['onednn'] == onednn_wins for k in pointwise)
    dw = sorted(k for k in table if k.startswith('dw:'))
    assert dw == (['dw:h=4:w=4:c=32:k=7:d=1', 'dw:h=8:w=8:c=16:k=7:d=1'] if depthwise_kernel.built() else [])
    assert sorted(calls.dw) == ([('dw', 2, 4, 4, 32, 7, 1), ('dw', 2, 8, 8, 16, 7, 1)] if dw else [])
    used, kernels = [], []
    real_linear, real_weight_grad = onednn.linear, depthwise_kernel.weight_grad
    monkeypatch.setattr(onednn, 'linear', lambda *a: used.append(1) or real_linear(*a))
    monkeypatch.setattr(depthwise_kernel, 'weight_grad', lambda *a: kernels.append(1) or real_weight_grad(*a))
    for a, b in zip(outputs_and_grads(auto, x), outputs_and_grads(plain, x)):
        assert_close(a, b)
    assert bool(used) == onednn_wins  # the measured winner ran
    assert bool(kernels) == (onednn_wins and bool(dw))
    assert len(calls) == 2  # forward measured nothing
    tuned(auto, x, train=False)  # inference: its own measurement, same results
    with torch.no_grad():
        auto.eval(), plain.eval()
        for a, b in zip(auto(x), plain(x)):
            assert_close(a, b)
    assert {c[0] for c in calls} == {'train', 'infer'} and len(calls) == 4


def test_tuning_leaves_the_model_and_random_state_as_they_were(monkeypatch):
    fake_timings(monkeypatch, onednn_wins=True)
    model = ConvNeXt(ARCH, drop_path_rate=0.5).train()
    torch.manual_seed(3)
    state = torch.get_rng_state()
    tuned(model, torch.zeros(4, 3, 32, 32), train=True)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_the_cache_is_reused_across_processes(monkeypatch):
    calls = fake_timings(monkeypatch, onednn_wins=True)
    model = ConvNeXt(ARCH, onednn_cpu='auto').eval()
    tuned(model, torch.zeros(1, 3, 32, 32), train=False)
    assert len(calls) == 2
    data = json.load(open(path_select.cache_file()))
    assert data['machine']['threads'] == torch.get_num_threads()
    pointwise = [e for e in data['choices'].values() if 'onednn' in e]  # beside the depthwise convs' forward
    assert all(e['onednn'] for e in pointwise) and len(pointwise) == 2
    assert len(data['choices']) == 2 + len(calls.dw)
    path_select.reset()  # a new process: only the file remains
    table = tuned(model, torch.zeros(1, 3, 30, 30), train=False)  # same power-of-two row bucket
    assert len(calls) == 2 and {e['source'] for k, e in table.items() if 'onednn' in e} == {'cached'}
    # (the depthwise choices are per map size: 30x30's are new)
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert path_select.describe().count('oneDNN') == 2


def test_a_corrupt_cache_file_is_survived_and_rewritten(monkeypatch):
    calls = fake_timings(monkeypatch, onednn_wins=False)
    path = path_select.cache_file()
    os.makedirs(os.path.dirname(path))
    for garbage in ('{not json', json.dumps({'choices': {'k': {'onednn': 'yes'}}})):
        with open(path, 'w') as f:
            f.write(garbage)
        path_select.reset()
        tuned(ConvNeXt(ARCH, onednn_cpu='auto'), torch.zeros(1, 3, 32, 32), train=False)
        data = json.load(open(path))  # valid again, with the new choices
        pointwise = [e for e in data['choices'].values() if 'onednn' in e]
        assert len(pointwise) == 2 and not any(e['onednn'] for e in pointwise)
    assert len(calls) == 4


def test_forward_neither_measures_nor_writes(monkeypatch, tmp_path):
    """A model built and tuned before, then run with the cache directory made unwritable: forward,
    training and inference, on the tuned shape and on others, times nothing and writes nothing."""
    fake_timings(monkeypatch, onednn_wins=True)
    model = ConvNeXt(ARCH, onednn_cpu='auto')
    tuned(model, torch.zeros(2, 3, 32, 32), train=True)
    tuned(model, torch.zeros(2, 3, 32, 32), train=False)
    cache = os.path.dirname(path_select.cache_file())
    before = {f: os.stat(os.path.join(cache, f)).st_mtime_ns for f in os.listdir(cache)}

    def refuse(*args, **kwargs):
        raise AssertionError('timed or wrote inside forward')

    monkeypatch.setattr(path_select, '_measure', refuse)
    monkeypatch.setattr(path_select, '_write', refuse)
    monkeypatch.setattr(path_select, '_time_ms', refuse)
    os.chmod(cache, stat.S_IRUSR | stat.S_IXUSR)
    try:
        used = []
        real_linear, real_fused = onednn.linear, onednn.linear_gelu
        monkeypatch.setattr(onednn, 'linear', lambda *a: used.append('train') or real_linear(*a))
        monkeypatch.setattr(onednn, 'linear_gelu', lambda *a: used.append('infer') or real_fused(*a))
        for size in (32, 64, 16):  # the tuned shape, then untuned ones (nearest planned row count)
            model.train()
            model(torch.randn(2, 3, size, size))[0].sum().backward()
            with torch.no_grad():
                model.eval()(torch.randn(2, 3, size, size))
        assert {'train', 'infer'} <= set(used)
        assert {f: os.stat(os.path.join(cache, f)).st_mtime_ns for f in os.listdir(cache)} == before
    finally:
        os.chmod(cache, stat.S_IRWXU)


def test_an_untuned_model_runs_the_plain_ops_and_says_so_once(monkeypatch, caplog):
    calls = fake_timings(monkeypatch, onednn_wins=True)
    used = []
    real_linear = onednn.linear
    monkeypatch.setattr(onednn, 'linear', lambda *a: used.append(1) or real_linear(*a))
    model = ConvNeXt(ARCH, onednn_cpu='auto')
    messages = []
    monkeypatch.setattr(path_select, 'print_log', lambda msg, **kw: messages.append(msg))
    for _ in range(2):
        model(torch.randn(1, 3, 32, 32))[0].sum().backward()
    assert not calls and not calls.dw and not used
    pointwise = [m for m in messages if 'plain ops' in m]
    depthwise = [m for m in messages if 'aten runs it' in m]
    assert len(pointwise) == 2 and all('no choice was made' in m for m in messages)
    assert len(depthwise) == (2 if depthwise_kernel.built() else 0) and len(messages) == 2 + len(depthwise)


def test_the_nearest_planned_row_count_decides_an_unplanned_shape():
    path_select.use_record(
        {
            'machine': path_select._machine(),
            'choices': {
                'train:rows=64:c=16:h=64': {'onednn': True},
                'train:rows=4096:c=16:h=64': {'onednn': False},
                'infer:rows=128:c=16:h=64': {'onednn': False},
            },
        },
        origin='test',
    )
    assert path_select.prefers_onednn('auto', 'train', 100, 16, 64)  # 128: one step from 64
    assert not path_select.prefers_onednn('auto', 'train', 2000, 16, 64)  # 2048: one step from 4096
    assert not path_select.prefers_onednn('auto', 'train', 30, 32, 128)  # another layer: none planned
    assert not path_select.prefers_onednn('auto', 'infer', 64, 16, 64)  # the kind counts


def test_a_record_is_followed_on_this_machine_only(monkeypatch, caplog):
    calls = fake_timings(monkeypatch, onednn_wins=False)
    model = ConvNeXt(ARCH, onednn_cpu='auto')
    x = torch.zeros(2, 3, 32, 32)
    tuned(model, x, train=True)
    rec = path_select.record()
    assert rec['machine'] == {
        'cpu': path_select.cpu_name(),
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'kernels': depthwise_kernel.build_id(),
    }
    rec['choices'] = {k: e for k, e in rec['choices'].items() if 'onednn' in e}  # the pointwise layers'
    assert len(rec['choices']) == 2 and not any(e['onednn'] for e in rec['choices'].values())
    flipped = {'machine': rec['machine'], 'choices': {k: dict(e, onednn=True) for k, e in rec['choices'].items()}}
    path_select.reset()
    assert path_select.use_record(json.loads(json.dumps(flipped)), origin='ckpt.pth')
    table = {k: e for k, e in tuned(model, x, train=True).items() if 'onednn' in e}
    assert len(calls) == 2 and len(table) == 2 and all(e['onednn'] and e['source'] == 'planned' for e in table.values())
    path_select.reset()
    other = dict(flipped, machine=dict(rec['machine'], cpu='Another CPU'))
    assert not path_select.use_record(other, origin='ckpt.pth')
    assert path_select.record()['choices'] == {}
    with pytest.raises(ValueError, match='ckpt.pth'):
        path_select.use_record({'choices': {'rows=3': {'onednn': True}}}, origin='ckpt.pth', check_machine=False)
    with pytest.raises(ValueError, match='ckpt.pth'):
        path_select.use_record([1, 2], origin='ckpt.pth')


@pytest.mark.parametrize('forced, env', [(True, None), (False, None), ('auto', 'onednn'), ('auto', 'plain')])
def test_a_forced_path_is_honoured_without_measuring(monkeypatch, forced, env):
    calls = fake_timings(monkeypatch, onednn_wins=forced is False or env == 'plain')  # the opposite of forced
    if env:
        monkeypatch.setenv(path_select.ENV_PATH, env)
    used = []
    real_linear = onednn.linear
    monkeypatch.setattr(onednn, 'linear', lambda *a: used.append(1) or real_linear(*a))
    model = ConvNeXt(ARCH, onednn_cpu=forced)
    assert tuned(model, torch.zeros(1, 3, 32, 32), train=True) == {}
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


def test_under_autocast_auto_takes_the_plain_path(monkeypatch):
    """bf16 autocast has no oneDNN path: a tuned 'auto' model does not differ from the plain ops."""
    fake_timings(monkeypatch, onednn_wins=True)
    torch.manual_seed(0)
    plain = ConvNeXt(ARCH, out_indices=(0, 1), gap_before_final_norm=False, onednn_cpu=False)
    auto = ConvNeXt(ARCH, out_indices=(0, 1), gap_before_final_norm=False, onednn_cpu='auto')
    auto.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    tuned(auto, x, train=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        results = [outputs_and_grads(m, x) for m in (auto, plain)]
    for a, b in zip(*results):
        assert torch.equal(a, b)
