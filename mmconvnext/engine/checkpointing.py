"""Checkpoints that are never left half-written, and a resume that finds the newest good one.

mmengine 0.10.7 writes a checkpoint with ``open(path, 'wb')`` and the work dir's ``last_checkpoint`` with
``open(path, 'w')``, and its ``CheckpointHook`` deletes the checkpoint that ``max_keep_ckpts`` retires *before*
writing the new one. A run killed (preemption, OOM killer, Ctrl-C twice) or stopped by a full disk while
saving can leave a truncated newest checkpoint, an empty ``last_checkpoint``, or no good checkpoint at all.
Here:

- :func:`atomic_write` writes a temporary file in the same directory, fsyncs it, renames it over the target
  and fsyncs the directory: a reader sees the old file or the new one, never a part. :class:`AtomicLocalBackend`
  is mmengine's local file backend with its writes made so; :class:`AtomicCheckpointHook` saves checkpoints
  through it (``backend_args``, :func:`atomic_backend_args`), so nothing outside the hook changes.
- :class:`AtomicCheckpointHook` (what :class:`mmconvnext.engine.ResumableRunner` makes of a config's
  ``CheckpointHook``) writes ``last_checkpoint`` atomically and retires old checkpoints only after the new
  one and ``last_checkpoint`` are on disk.
- :func:`find_resumable_checkpoint` reads ``last_checkpoint``, checks that the file it names opens as a
  checkpoint and, if it does not, says so by name and falls back to the newest checkpoint of the directory
  that does.

Written by hand: mmengine has no atomic write, and neither has any library of this stack.
"""

import contextlib
import logging
import os
import os.path as osp
import re
import tempfile
from typing import Optional, Union

import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.fileio import io as mmengine_io
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from mmconvnext.registry import HOOKS
from mmconvnext.serialization import safe_loading

__all__ = [
    'ATOMIC_BACKEND',
    'AtomicCheckpointHook',
    'AtomicLocalBackend',
    'ResumeError',
    'TMP_SUFFIX',
    'atomic_write',
    'checkpoint_file_problem',
    'checkpoint_problem',
    'open_resumable',
    'atomic_backend_args',
    'find_resumable_checkpoint',
]

#: the suffix of the temporary files :func:`atomic_write` renames into place (``.NAME.XXXX.tmp``)
TMP_SUFFIX = '.tmp'
#: the name of :class:`AtomicLocalBackend` among mmengine's file backends, registered by the hook that uses it
ATOMIC_BACKEND = 'mmconvnext_atomic_local'


def _umask() -> int:
    """The process's umask, read without setting it (``os.umask`` can only be read by changing it, which
    would race with any other thread creating files): ``/proc/self/status`` on Linux, else the mode a fresh
    file gets."""
    with contextlib.suppress(OSError, ValueError):
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    with tempfile.TemporaryDirectory() as d:
        probe = osp.join(d, 'probe')
        os.close(os.open(probe, os.O_CREAT | os.O_WRONLY, 0o666))
        return 0o666 & ~os.stat(probe).st_mode & 0o777


def _write_all(f, data: bytes, path: str) -> None:
    """The write of ``data`` (meant for ``path``) to the open temporary file ``f``: a function of its own so
    that a test can slow it down and kill the process during it."""
    f.write(data)


def _fsync_dir(directory: str) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened and synced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Union[str, os.PathLike], data: Union[bytes, str], encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of ``data``.

    Raises:
        OSError: the write failed (a full disk, no permission); the message names ``path`` and the
            temporary file is removed, so ``path`` (and its old content, if any) is untouched.
    """
    path = osp.abspath(os.fspath(path))
    directory = osp.dirname(path)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode(encoding)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{osp.basename(path)}.', suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, 'wb') as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # what open() would have given it
            _write_all(f, data, path)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            what = os.strerror(e.errno) if e.errno else str(e)
            raise OSError(
                e.errno, f'{path} could not be written ({what}); the file there before, if any, is untouched'
            ) from e
        raise
    _fsync_dir(directory)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put``/``put_text`` write through :func:`atomic_write`."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj, encoding)


def atomic_backend_args() -> dict:
    """``backend_args`` that make mmengine write through :class:`AtomicLocalBackend` (registered with
    mmengine's file backends under :data:`ATOMIC_BACKEND` on first use; idempotent). Local paths only."""
    if mmengine_io.backends.get(ATOMIC_BACKEND) is not AtomicLocalBackend:
        register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
    return {'backend': ATOMIC_BACKEND}


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments, same files) with a safe order of writes: the new
    checkpoint (atomically, through :class:`AtomicLocalBackend`, for a local ``out_dir`` and no
    ``backend_args`` of the config's own), then ``last_checkpoint`` (atomically), and only then the removal of
    the checkpoints ``max_keep_ckpts`` retires. A kill at any moment leaves ``last_checkpoint`` naming a
    complete checkpoint. :class:`mmconvnext.engine.ResumableRunner` makes one of every config's
    ``CheckpointHook``; in a config of your own: ``default_hooks=dict(checkpoint=dict(
    type='mmconvnext.AtomicCheckpointHook', interval=...))``."""

    def before_train(self, runner) -> None:
        out_dir = self.out_dir or runner.work_dir
        if self.backend_args is None and self.file_client_args is None and '://' not in str(out_dir):
            self.backend_args = atomic_backend_args()
        super().before_train(runner)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        from mmengine.dist import is_main_process

        retired = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                retired.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in retired:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from, or ``None`` if it opens as an mmengine checkpoint.

    The file is opened with ``mmap=True``: its structure is read, its tensors are not, so a check costs
    little even for a large checkpoint. A truncated file (a write cut short without
    :func:`atomic_write`) fails here.
    """
    return open_resumable(path)[1]


def open_resumable(path: str) -> tuple:
    """``(checkpoint, None)`` (memory-mapped) or ``(None, why it cannot be resumed from)``."""
    ckpt, problem = _open_checkpoint(path, legacy=False)
    if problem is None and (not isinstance(ckpt, dict) or not {'meta', 'state_dict'} <= set(ckpt)):
        return None, 'not a training checkpoint (it has no meta and state_dict to resume from)'
    return ckpt, problem


def checkpoint_file_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a torch checkpoint that opens (missing, empty, cut short, another kind of file), or
    ``None``; a file in torch's pre-1.6 format (a pickle, not a zip archive) is left to the loader."""
    return _open_checkpoint(path, legacy=True)[1]


def _open_checkpoint(path: str, legacy: bool) -> tuple:
    """``(checkpoint, None)`` or ``(None, why it does not open)``. A zip archive (what ``torch.save`` writes)
    is opened with ``mmap=True``: its structure is read, its tensors are not."""
    if not osp.isfile(path):
        return None, 'no such file'
    if osp.getsize(path) == 0:
        return None, 'the file is empty'
    with open(path, 'rb') as f:
        head = f.read(4)
    if head != b'PK\x03\x04':  # torch would say "mmap can only be used with files saved with ..."
        if legacy and head[:1] == b'\x80':  # a pickle's protocol opcode: torch's legacy format
            return None, None
        return None, 'not a checkpoint: torch.save writes a zip archive and this file is not one'
    try:
        with safe_loading():
            return torch.load(path, map_location='cpu', weights_only=True, mmap=True), None
    except Exception as e:  # noqa: BLE001 - any failure to open is the answer
        return None, f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'


class ResumeError(ValueError):
    """``--resume`` named a file that cannot be resumed from."""


_STEP = re.compile(r'(?:^|_)(iter|epoch)_(\d+)\.pth$')


def find_resumable_checkpoint(work_dir: str, logger: Union[str, logging.Logger] = 'current') -> Optional[str]:
    """The checkpoint ``--resume`` (without a path) continues from, or ``None`` if there is none.

    The one ``work_dir/last_checkpoint`` names, if it opens; otherwise (each rejected file named in the log
    with the reason) the newest ``iter_N.pth`` / ``epoch_N.pth`` of that checkpoint's directory and of
    ``work_dir`` that does. Stale temporary files of killed writes are not candidates.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip() or None
        if named is None:
            print_log(f'{record} is empty; looking for checkpoints in {work_dir}', logger, logging.WARNING)
    candidates = [named] if named else []
    directories = {osp.abspath(work_dir)} | ({osp.dirname(osp.abspath(named))} if named else set())
    found = []
    for d in directories:
        if osp.isdir(d):
            for name in os.listdir(d):
                m = _STEP.search(name)
                if m and not name.startswith('.'):
                    found.append((m.group(1) == 'iter', int(m.group(2)), osp.getmtime(osp.join(d, name)), name, d))
    # newest first: iteration checkpoints of an iteration-based run, or epoch checkpoints of an epoch-based one
    for *_, name, d in sorted(found, reverse=True):
        path = osp.join(d, name)
        if named is None or osp.abspath(path) != osp.abspath(named):
            candidates.append(path)
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            if path != named and named is not None:
                print_log(f'resuming from {path} instead', logger, logging.WARNING)
            return path
        print_log(f'{path} cannot be resumed from ({problem}); trying the previous checkpoint', logger, logging.WARNING)
    return None
