"""A killed run, resumed, finishes with the weights it would have had uninterrupted, bit for bit.

mmengine 0.10.7 saves no random state: after ``--resume`` drop path, dropout, the data augmentations and
the batch augmentations draw other numbers than the uninterrupted run would have. Saving every generator's
state is not enough either: each dataloader worker has its own (unreadable from the main process, and
carried from epoch to epoch by persistent workers), and validation, hooks and the best-checkpoint saves
draw from the main process's between two checkpoints. So instead every random draw of training is made a
function of the seed and of *where* it happens:

- each training iteration starts by seeding the process's generators (torch CPU and CUDA, numpy, python
  ``random``) from (seed, iteration, rank) -- :class:`ReseedHook`;
- each training sample is loaded under generators seeded from (seed, rank, pass over the sampler, position
  in the pass), whichever process loads it (the main one with ``num_workers=0``, or any worker), the
  caller's generator states restored afterwards -- :class:`SeededDataset` and :class:`DrawSampler`, which
  :meth:`ResumableRunner.build_dataloader` puts around a training set and its sampler.

A checkpoint then needs only what mmengine already saves: the seed (``meta.seed``) and the iteration
(``meta.iter``), and the samplers are mmengine's, seeded from that seed. No key is added, so a checkpoint
resumes in plain mmengine as before and still loads with ``torch.load(weights_only=True)``. Two side effects,
both wanted: validation no longer shifts the training run's random numbers, and the augmentations of a
sample differ from epoch to epoch even with non-persistent workers (mmengine reseeds every worker with the
same seed each epoch).

:class:`ResumableRunner` (what :func:`mmconvnext.apis.build_runner` builds for a config without
``runner_type``) adds the above, the atomic checkpoint writes of :mod:`.checkpointing`, the CPU kernels
chosen before the run and recorded in its checkpoints (:class:`.ComputePathHook`, without which a resumed run
could measure other kernels than the run it continues), the fallback past a
corrupt newest checkpoint, and takes the seed of the checkpoint it resumes *before* it builds the dataloaders
(mmengine restores it after, when the samplers are already seeded with another).

Resume is exact at the points where mmengine resumes: any iteration of an iteration-based loop, and epoch
boundaries of an epoch-based one (mmengine restarts an epoch from its first batch). Written by hand:
mmengine, mmdet and mmseg have nothing of this.
"""

import logging
import random
from typing import Any, Iterator, Optional

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset, Sampler

from mmconvnext.registry import HOOKS, RUNNERS
from mmconvnext.serialization import safe_loading

from .checkpointing import (
    AtomicCheckpointHook,
    ResumeError,
    checkpoint_file_problem,
    find_resumable_checkpoint,
    open_resumable,
)
from .compute_path_hook import ComputePathHook

__all__ = ['DrawSampler', 'ReseedHook', 'ResumableRunner', 'SampleIndex', 'SeededDataset', 'seed_generators']

_TRAIN_ITER, _SAMPLE = 1, 2  # the streams' tags in the seed key


def _words(*key: int) -> np.ndarray:
    """Four 32-bit words of a seed derived from ``key`` (numpy's SeedSequence: distinct keys give
    independent streams)."""
    return np.random.SeedSequence([int(k) for k in key]).generate_state(4, dtype=np.uint32)


def seed_generators(*key: int, cuda: bool = True) -> None:
    """Seed torch's CPU (and, with ``cuda``, the current CUDA device's), numpy's and python's global
    generators from ``key``."""
    w = [int(x) for x in _words(*key)]
    random.seed(w[0] << 32 | w[1])
    np.random.seed(w[2])
    torch.default_generator.manual_seed(w[3] << 32 | w[0])
    if cuda and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.manual_seed(w[1] << 32 | w[2])


class SampleIndex(int):
    """A dataset index that also says which draw of the sampler it is (``draw``: pass, position), so the
    process that loads it can seed its augmentations from that. An ``int`` for everything else (batch
    samplers, ``get_data_info``, numpy indexing)."""

    def __new__(cls, index: int, draw: tuple = ()):
        obj = super().__new__(cls, index)
        obj.draw = draw
        return obj

    def __reduce__(self):  # sent to the workers through a queue
        return (SampleIndex, (int(self), self.draw))


class DrawSampler(Sampler):
    """Wraps a sampler: the same indices in the same order, as :class:`SampleIndex` carrying (pass,
    position). The pass is the last ``set_epoch`` value (mmengine's ``DistSamplerSeedHook`` and its
    infinite dataloader iterator call it), forwarded to the wrapped sampler."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.pass_index = 0

    def set_epoch(self, epoch: int) -> None:
        self.pass_index = int(epoch)
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[SampleIndex]:
        p = self.pass_index
        for i, index in enumerate(self.sampler):
            yield SampleIndex(index, (p, i))

    def __len__(self) -> int:
        return len(self.sampler)

    def __getattr__(self, name: str) -> Any:  # dataset, seed, ... of the wrapped sampler
        if name == 'sampler':
            raise AttributeError(name)
        return getattr(self.sampler, name)


class SeededDataset(Dataset):
    """Wraps a training set: an item asked for by a :class:`SampleIndex` is loaded under generators
    seeded from (``seed``, ``rank``, its draw), the caller's generator states restored afterwards;
    attributes (``metainfo``, ``pipeline``, ``get_data_info`` ...) are the wrapped dataset's, read and
    written."""

    _own = ('dataset', 'seed', 'rank')

    def __init__(self, dataset: Dataset, seed: int, rank: int) -> None:
        object.__setattr__(self, 'dataset', dataset)
        object.__setattr__(self, 'seed', int(seed))
        object.__setattr__(self, 'rank', int(rank))

    def __getitem__(self, index):
        draw = getattr(index, 'draw', None)
        if draw is None:
            return self.dataset[index]
        states = random.getstate(), np.random.get_state(), torch.get_rng_state()
        try:
            seed_generators(self.seed, _SAMPLE, self.rank, *draw, cuda=False)
            return self.dataset[int(index)]
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:
        if name in SeededDataset._own:  # not set yet (unpickling): no recursion through self.dataset
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in SeededDataset._own:
            object.__setattr__(self, name, value)
        else:  # e.g. mmdet's pipeline-switch hooks assign dataset.pipeline
            setattr(self.dataset, name, value)

    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in SeededDataset._own}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)


@HOOKS.register_module()
class ReseedHook(Hook):
    """Seeds the process's generators at the start of every training iteration from (the run's seed,
    the iteration, the rank): what an iteration draws does not depend on what ran before it."""

    priority = 'HIGHEST'

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed_generators(runner.seed, _TRAIN_ITER, runner.iter, get_dist_info()[0])


@RUNNERS.register_module()
class ResumableRunner(Runner):
    """mmengine's ``Runner`` whose runs resume bit for bit and whose checkpoints are written atomically
    (see the module's docstring). Built by :func:`mmconvnext.apis.build_runner` for configs that name no
    ``runner_type``; ``runner_type='mmconvnext.ResumableRunner'`` names it explicitly."""

    def __init__(self, *args, **kwargs) -> None:
        notes = []
        if kwargs.get('resume'):
            kwargs['load_from'], kwargs['randomness'] = self._resume_target(kwargs, notes)
        super().__init__(*args, **kwargs)
        for level, msg in notes:
            self.logger.log(level, msg)
        if not any(isinstance(h, ReseedHook) for h in self._hooks):
            self.register_hook(ReseedHook())
        if not any(isinstance(h, ComputePathHook) for h in self._hooks):
            self.register_hook(ComputePathHook())
        for hook in self._hooks:
            if type(hook) is CheckpointHook:
                # the same object, its arguments and state kept; only its save order changes
                hook.__class__ = AtomicCheckpointHook

    def load_checkpoint(self, filename: str, *args, **kwargs) -> dict:
        """mmengine's ``load_from``/``tools/test.py`` loading, with a file that does not open (cut short,
        empty, not a checkpoint) refused by name before torch's unnamed zip-archive error; ``resume`` loads
        through here too."""
        if '://' not in str(filename):
            problem = checkpoint_file_problem(str(filename))
            if problem is not None:
                from mmconvnext.checkpoint import CheckpointError

                raise CheckpointError(f'{filename}: cannot load this checkpoint ({problem})')
        with safe_loading():  # mmengine's HistoryBuffer etc. allow-listed for this load only
            return super().load_checkpoint(filename, *args, **kwargs)

    @staticmethod
    def _resume_target(kwargs: dict, notes: list) -> tuple:
        """The checkpoint to resume (the work dir's newest good one, unless one is named) and the
        randomness settings with the seed it was trained with."""
        randomness = dict(kwargs.get('randomness') or dict(seed=None))
        path = kwargs.get('load_from')
        if path is None:
            path = find_resumable_checkpoint(kwargs['work_dir'], logger='current')
            if path is None:
                notes.append(
                    (
                        logging.WARNING,
                        f'--resume: no checkpoint to resume from in {kwargs["work_dir"]}; training starts from '
                        'the beginning',
                    )
                )
                return None, randomness
        if '://' not in str(path):
            ckpt, problem = open_resumable(str(path))
            if problem is not None:
                raise ResumeError(f'--resume {path}: cannot resume from it ({problem})')
            seed = ckpt['meta'].get('seed')
            if seed is not None and seed != randomness.get('seed'):
                if randomness.get('seed') is not None:
                    notes.append((logging.WARNING, f"resuming with the seed of {path} ({seed}), not the config's"))
                randomness['seed'] = seed
        return path, randomness

    @staticmethod
    def build_dataloader(dataloader, seed: Optional[int] = None, diff_rank_seed: bool = False) -> DataLoader:
        """mmengine's dataloader; a training set (``test_mode`` false) and its sampler wrapped in
        :class:`SeededDataset` / :class:`DrawSampler` so that each sample's augmentations depend on the
        seed and the draw only."""
        built = isinstance(dataloader, DataLoader)
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if built or seed is None or getattr(loader.dataset, 'test_mode', False):
            return loader
        # mmengine deep-copies its config (an infinite sampler's generator cannot be), so the loader it built
        # is rebuilt around the wrapped dataset and sampler, every other setting kept
        settings = dict(
            num_workers=loader.num_workers,
            collate_fn=loader.collate_fn,
            pin_memory=loader.pin_memory,
            timeout=loader.timeout,
            worker_init_fn=loader.worker_init_fn,
            multiprocessing_context=loader.multiprocessing_context,
            generator=loader.generator,
            prefetch_factor=loader.prefetch_factor,
            persistent_workers=loader.persistent_workers,
            pin_memory_device=loader.pin_memory_device,
        )
        dataset = SeededDataset(loader.dataset, seed, get_dist_info()[0])
        if loader.batch_size is not None:  # torch batches the sampler itself
            batching = dict(
                sampler=DrawSampler(loader.sampler), batch_size=loader.batch_size, drop_last=loader.drop_last
            )
        else:  # a batch sampler of the config's (mmdet's AspectRatioBatchSampler ...) draws from the sampler
            loader.batch_sampler.sampler = DrawSampler(loader.batch_sampler.sampler)
            batching = dict(batch_sampler=loader.batch_sampler)
        return DataLoader(dataset, **batching, **settings)
