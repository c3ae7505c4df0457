"""The run's CPU kernels are chosen before its first iteration (ComputePathHook, which the tools' runner
adds), written to the work dir and to every checkpoint, and a resumed run follows the recorded choice: on a
machine of the same kind with an empty cache, whose own measurement would choose otherwise, it ends with
the uninterrupted run's weights, bit for bit. Without the record it would not: the kernels differ in the
last bits."""

import json
import os

import pytest
import torch

from mmconvnext.engine import ComputePathHook, ResumableRunner
from mmconvnext.models.layers import depthwise_kernel, onednn, path_select

from ..conftest import fake_timings, load_checkpoint_file
from .test_resumable import differing, make_runner
from .toy import NoisyClassifier

pytestmark = [
    pytest.mark.skipif(not onednn.available(torch.zeros(1)), reason='no oneDNN in this torch build'),
    pytest.mark.usefixtures('auto_cpu_path'),  # 'auto' decides, with a cache of each test's own
]


def test_the_run_chooses_before_its_first_iteration_and_records_it(tmp_path, monkeypatch):
    calls = fake_timings(monkeypatch, onednn_wins=True, kernel_wins=True)
    measured_at_forward = []
    forward = NoisyClassifier.forward
    monkeypatch.setattr(
        NoisyClassifier,
        'forward',
        lambda self, *a, **k: measured_at_forward.append(len(calls)) or forward(self, *a, **k),
    )
    runner = make_runner(ResumableRunner, tmp_path / 'run', by_epoch=False, workers=0, stop=6)
    assert sum(isinstance(h, ComputePathHook) for h in runner.hooks) == 1
    runner.train()
    # one measurement per training shape of the 4 stages, all before the first forward
    assert {c[0] for c in calls} == {'train'} and len(calls) == 4
    assert len(calls.dw) == (4 if depthwise_kernel.built() else 0)  # and each stage's depthwise gradients
    assert measured_at_forward[0] == 4 and len(measured_at_forward) == 6
    rec = path_select.record()
    assert len(pointwise(rec)) == 4 and all(e['onednn'] for e in pointwise(rec).values())
    assert all(e['input'] and e['weight'] for k, e in rec['choices'].items() if k.startswith('dw:'))
    assert len(rec['choices']) == 4 + len(calls.dw)
    assert json.load(open(tmp_path / 'run' / 'compute_paths.json')) == rec
    for it in (3, 6):
        assert load_checkpoint_file(tmp_path / 'run' / f'iter_{it}.pth')['meta']['compute_paths'] == rec


def resume_on_a_fresh_machine(tmp_path, monkeypatch, keep_record: bool):
    """An uninterrupted run and one stopped at 3 on a machine whose timings pick oneDNN; the latter
    resumed in a fresh process state on a machine of the same kind with an empty cache, whose timings
    would pick the plain ops. Returns both runs' final weights and what the resumed run measured."""
    fake_timings(monkeypatch, onednn_wins=True, kernel_wins=True)
    straight = make_runner(ResumableRunner, tmp_path / 'straight', by_epoch=False, workers=0, stop=6)
    straight.train()
    expected = straight.model.state_dict()
    path_select.reset()
    make_runner(ResumableRunner, tmp_path / 'resumed', by_epoch=False, workers=0, stop=3).train()
    if not keep_record:
        ckpt = tmp_path / 'resumed' / 'iter_3.pth'
        data = load_checkpoint_file(ckpt)
        del data['meta']['compute_paths']
        torch.save(data, ckpt)
    path_select.reset()
    monkeypatch.setenv(path_select.ENV_CACHE, str(tmp_path / 'empty-cache'))
    calls = fake_timings(monkeypatch, onednn_wins=False, kernel_wins=False)
    resumed = make_runner(ResumableRunner, tmp_path / 'resumed', by_epoch=False, workers=0, stop=6, resume=True)
    resumed.train()
    return expected, resumed.model.state_dict(), calls


def test_a_resumed_run_follows_the_recorded_kernels_bit_for_bit(tmp_path, monkeypatch):
    expected, got, calls = resume_on_a_fresh_machine(tmp_path, monkeypatch, keep_record=True)
    assert calls == [] and calls.dw == []  # nothing measured: the checkpoint's choice was followed
    assert not os.path.exists(tmp_path / 'empty-cache')
    rec = path_select.record()
    assert all(e['onednn'] for e in pointwise(rec).values())
    assert all(e['input'] and e['weight'] for k, e in rec['choices'].items() if k.startswith('dw:'))
    assert differing(expected, got) == []


def test_without_the_record_the_resumed_run_would_differ(tmp_path, monkeypatch):
    """The control: the other kernels, measured anew, change the weights (so the test above can fail)."""
    expected, got, calls = resume_on_a_fresh_machine(tmp_path, monkeypatch, keep_record=False)
    assert len(calls) == 4
    assert differing(expected, got) != []


def test_a_record_file_named_by_the_config_is_followed(tmp_path, monkeypatch):
    calls = fake_timings(monkeypatch, onednn_wins=False)
    model = NoisyClassifier()
    asked = path_select.shapes_asked(model, (4, 3, 32, 32), train=True)
    rec = {'machine': path_select.record()['machine'], 'choices': {}}
    rec['choices'] = {
        path_select._asked_key(a): {'input': True, 'weight': True} if a[0] == 'dw' else {'onednn': True} for a in asked
    }
    (tmp_path / 'paths.json').write_text(json.dumps(rec))
    runner = make_runner(ResumableRunner, tmp_path / 'run', by_epoch=False, workers=0, stop=2)
    runner._hooks = [h for h in runner._hooks if not isinstance(h, ComputePathHook)]  # as if the config named it
    runner.register_hook(ComputePathHook(use=str(tmp_path / 'paths.json')))
    runner.train()
    assert calls == [] and calls.dw == [] and all(e['onednn'] for e in pointwise(path_select.record()).values())
    (tmp_path / 'bad.json').write_text('{')
    with pytest.raises(ValueError, match='bad.json'):
        ComputePathHook(use=str(tmp_path / 'bad.json')).before_run(runner)


def pointwise(rec: dict) -> dict:
    """The pointwise layers' choices of a record (the depthwise gradients' are ``dw:`` keys)."""
    return {k: e for k, e in rec['choices'].items() if not k.startswith('dw:')}
