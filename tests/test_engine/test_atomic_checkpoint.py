"""Checkpoints are never left half-written as the latest: a process killed while writing one resumes from
the previous (still there, even with max_keep_ckpts=1) to the uninterrupted run's weights; a corrupt newest
checkpoint is named and skipped; a full disk fails the save naming the file and damages nothing."""

import errno
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from mmconvnext.engine import ResumableRunner, checkpointing

from ..conftest import ROOT, load_checkpoint_file
from .test_resumable import make_runner

CHILD = """
import os, sys, time
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
from pathlib import Path
from mmconvnext.engine import ResumableRunner, checkpointing
from tests.test_engine.test_resumable import make_runner

stall_at, marker = int(os.environ.get('STALL_AT', 0)), os.environ.get('MARKER')
original, saves = checkpointing._write_all, []

def slow_write(f, data, path):
    if not path.endswith('.pth'):
        return original(f, data, path)
    saves.append(1)
    if len(saves) != stall_at:
        return original(f, data, path)
    f.write(data[: len(data) // 2])
    f.flush()
    tmp = [p for p in os.listdir(os.path.dirname(path)) if p.endswith(checkpointing.TMP_SUFFIX)]
    Path(marker).write_text(os.path.join(os.path.dirname(path), tmp[0]))
    time.sleep(120)  # killed here, half of the checkpoint written

checkpointing._write_all = slow_write
make_runner(ResumableRunner, Path(sys.argv[1]), False, 0, 8, resume=sys.argv[2] == 'resume', interval=2, keep=1).train()
"""


def child(tmp_path, work, resume, stall_at=0):
    script = tmp_path / 'child.py'
    script.write_text(CHILD.format(root=str(ROOT)))
    marker = tmp_path / f'writing-{len(list(tmp_path.glob("writing-*")))}'
    env = {**os.environ, 'STALL_AT': str(stall_at), 'MARKER': str(marker)}
    cmd = [sys.executable, str(script), str(work), 'resume' if resume else 'fresh']
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not stall_at:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]
        return None
    deadline = time.time() + 300
    while not marker.exists():
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return marker.read_text()


def latest_is_whole(work):
    latest = (work / 'last_checkpoint').read_text().strip()
    assert checkpointing.checkpoint_problem(latest) is None
    return os.path.basename(latest)


def test_killed_during_saves_resumes_each_time(tmp_path):
    """Saves every 2 iterations, keeping 1: killed while writing iter_4 (iter_2 is still there: mmengine's
    hook deletes it first), resumed and killed while writing iter_6, resumed to the end."""
    child(tmp_path, tmp_path / 'straight', resume=False)
    work = tmp_path / 'killed'
    tmp = child(tmp_path, work, resume=False, stall_at=2)
    assert os.path.exists(tmp) and not (work / 'iter_4.pth').exists()  # the kill landed mid-write
    assert latest_is_whole(work) == 'iter_2.pth'
    tmp = child(tmp_path, work, resume=True, stall_at=2)  # resumed at 2: its saves are 4, then 6
    assert not (work / 'iter_6.pth').exists() and latest_is_whole(work) == 'iter_4.pth'
    child(tmp_path, work, resume=True)
    assert latest_is_whole(work) == 'iter_8.pth'
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_8.pth']  # max_keep_ckpts=1 honoured
    expected = load_checkpoint_file(tmp_path / 'straight' / 'iter_8.pth')['state_dict']
    got = load_checkpoint_file(work / 'iter_8.pth')['state_dict']
    assert [k for k in expected if not torch.equal(expected[k], got[k])] == []


def test_corrupt_latest_is_named_and_skipped(tmp_path, caplog):
    straight = make_runner(ResumableRunner, tmp_path / 'straight', False, 0, 10)
    straight.train()
    make_runner(ResumableRunner, tmp_path / 'resumed', False, 0, 9).train()  # saves iter_3, 6, 9
    latest = tmp_path / 'resumed' / 'iter_9.pth'
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])  # as a non-atomic write would
    runner = make_runner(ResumableRunner, tmp_path / 'resumed', False, 0, 10, resume=True)
    runner.train()
    log = caplog.text + ''.join(open(p).read() for p in (tmp_path / 'resumed').rglob('*.log'))
    assert f'{latest} cannot be resumed from' in log and 'resumed epoch: 0, iter: 6' in log
    expected, got = straight.model.state_dict(), runner.model.state_dict()
    assert [k for k in expected if not torch.equal(expected[k], got[k])] == []


def test_empty_last_checkpoint_and_empty_dir(tmp_path):
    work = tmp_path / 'w'
    make_runner(ResumableRunner, work, False, 0, 3).train()
    (work / 'last_checkpoint').write_text('')
    assert checkpointing.find_resumable_checkpoint(str(work)).endswith('iter_3.pth')
    assert checkpointing.find_resumable_checkpoint(str(tmp_path / 'nothing')) is None
    runner = make_runner(ResumableRunner, tmp_path / 'fresh', False, 0, 3, resume=True)
    assert runner._load_from is None  # nothing to resume: starts from the beginning, with a warning


def test_explicit_resume_of_a_broken_file_is_refused(tmp_path):
    bad = tmp_path / 'iter_5.pth'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match=rf'--resume {bad}: cannot resume from it'):
        ResumableRunner._resume_target(dict(work_dir=str(tmp_path), load_from=str(bad)), [])


def test_full_disk_fails_naming_the_file_and_damages_nothing(tmp_path, monkeypatch):
    work = tmp_path / 'w'
    make_runner(ResumableRunner, work, False, 0, 3).train()
    before = (work / 'iter_3.pth').read_bytes(), (work / 'last_checkpoint').read_text()

    def full(f, data, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpointing, '_write_all', full)
    with pytest.raises(OSError, match=r'iter_6\.pth could not be written \(No space left on device\)'):
        make_runner(ResumableRunner, work, False, 0, 6, resume=True).train()
    assert ((work / 'iter_3.pth').read_bytes(), (work / 'last_checkpoint').read_text()) == before
    assert not any(p.name.endswith(checkpointing.TMP_SUFFIX) for p in work.iterdir())
    assert not (work / 'iter_6.pth').exists()
