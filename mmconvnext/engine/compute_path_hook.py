"""The CPU kernels of a run chosen before its first iteration and recorded with it.

:class:`ComputePathHook` plans the backbones' compute paths (:mod:`mmconvnext.models.layers.path_select`:
for ``onednn_cpu='auto'``, plain ops or oneDNN per block shape, whichever this machine runs faster):

- before the first training iteration, for the shape of that batch as the model's data preprocessor
  makes it (with gradients: the training kernels); before the first validation and test iteration,
  for theirs (inference; a segmentor's sliding-window crop where it tests by windows);
- measured once per machine and shape (the machine's cache file answers the next runs), by rank 0 of a
  distributed run and handed to every rank, so that all ranks run the same kernels;
- logged as a table, written to ``work_dir/compute_paths.json`` and into every checkpoint's
  ``meta['compute_paths']``;
- taken from the checkpoint a run resumes or starts ``load_from`` (or from the file named by ``use``)
  instead of measured again, when it was made on the same kind of machine (CPU model, threads,
  torch): a run resumed on a fresh machine, its cache empty, continues on the kernels it ran, bit
  for bit.

Nothing is timed inside ``forward``: shapes that show up later (another image size) take the choice
of the nearest planned one. The tools' runner (:class:`mmconvnext.engine.ResumableRunner`) adds this
hook to every run; a config of your own names it: ``custom_hooks=[dict(type='mmconvnext.ComputePathHook')]``.
Written by hand: mmengine has no per-shape kernel choice to record (cudnn's benchmark mode is the
nearest, and it records nothing).
"""

import copy
import json
import os
import os.path as osp
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, broadcast_object_list, get_dist_info, is_distributed
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmconvnext.models.layers import path_select
from mmconvnext.registry import HOOKS

__all__ = ['ComputePathHook', 'RECORD_FILE']

#: the file in the work dir that holds the run's choices
RECORD_FILE = 'compute_paths.json'


class _KeepRandomState:
    """Leaves python's, numpy's and torch's (CPU) generators as they were: the probe's preprocessing
    (batch augmentations) must not shift the run's random numbers."""

    def __enter__(self) -> None:
        self.states = random.getstate(), np.random.get_state(), torch.get_rng_state()

    def __exit__(self, *exc) -> None:
        random.setstate(self.states[0])
        np.random.set_state(self.states[1])
        torch.set_rng_state(self.states[2])


@HOOKS.register_module()
class ComputePathHook(Hook):
    """Choose the backbones' CPU kernels before the run's first iterations; record and reuse the
    choice (see the module's docstring).

    Args:
        use: a ``compute_paths.json`` (of a work dir, or written by ``tools/analysis/tune_cpu.py``) to
            follow instead of measuring, where it was made on this kind of machine.
    """

    # after ReseedHook (HIGHEST), whose seeding of the iteration the probe leaves untouched;
    # before everything else that could run the model
    priority = 'VERY_HIGH'

    def __init__(self, use: Optional[str] = None) -> None:
        self.use = use
        self._planned: set[str] = set()  # the loop kinds planned in this process

    def before_run(self, runner) -> None:
        if self.use is not None:
            try:
                with open(self.use) as f:
                    rec = json.load(f)
            except (OSError, ValueError) as e:
                raise ValueError(f'ComputePathHook(use={self.use!r}): cannot read the compute-path record ({e})') from e
            path_select.use_record(rec, origin=self.use)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        rec = (checkpoint.get('meta') or {}).get('compute_paths')
        if rec is not None:
            path_select.use_record(rec, origin='the loaded checkpoint')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._plan(runner, 'train', data_batch)

    def before_val_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._plan(runner, 'val', data_batch)

    def before_test_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._plan(runner, 'test', data_batch)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['compute_paths'] = path_select.record()

    def _plan(self, runner, loop: str, data_batch) -> None:
        if loop in self._planned or data_batch is None:
            return
        self._planned.add(loop)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        param = next(model.parameters(), None)
        if path_select.effective_mode('auto') != 'auto' or (param is not None and param.device.type != 'cpu'):
            return  # $MMCONVNEXT_CPU_PATH decides, or no CPU run: nothing to choose (the same on every rank)
        shape = self._shape(model, data_batch, training=loop == 'train')
        asked = set() if shape is None else path_select.shapes_asked(model, shape, train=loop == 'train')
        rank, _ = get_dist_info()
        if is_distributed():  # rank 0 chooses for the shapes every rank needs, and hands its plan over
            asked = set().union(*all_gather_object(asked))
            rec = [None]
            if rank == 0:
                path_select.tune(asked)
                rec = [path_select.record()]
            broadcast_object_list(rec, src=0)
            if rank != 0:
                path_select.use_record(rec[0], origin='rank 0', check_machine=False)
        else:
            path_select.tune(asked)
        if rank == 0 and asked:
            self._write(runner)

    @staticmethod
    def _shape(model, data_batch, training: bool) -> Optional[tuple]:
        """The backbone's input shape for ``data_batch``: what the data preprocessor makes of it, a
        segmentor's window where it tests by sliding windows. Copies of both are used (preprocessors
        pad data samples in place, and some count their calls) and the random generators are left
        as they were, so the iteration itself runs as it would have without the probe."""
        preprocessor = getattr(model, 'data_preprocessor', None)
        if preprocessor is None:
            return None
        with _KeepRandomState(), torch.no_grad():
            inputs = copy.deepcopy(preprocessor)(copy.deepcopy(data_batch), training)['inputs']
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4 or inputs.device.type != 'cpu':
            return None  # a TTA batch (lists), or not a CPU run: nothing to choose
        n, c, h, w = inputs.shape
        test_cfg = getattr(model, 'test_cfg', None)
        if not training and isinstance(test_cfg, dict) and test_cfg.get('mode') == 'slide':
            h, w = min(h, test_cfg['crop_size'][0]), min(w, test_cfg['crop_size'][1])
        return n, c, h, w

    @staticmethod
    def _write(runner) -> None:
        path = osp.join(runner.work_dir, RECORD_FILE)
        with open(path + '.tmp', 'w') as f:
            json.dump(path_select.record(), f, indent=1)
        os.replace(path + '.tmp', path)
