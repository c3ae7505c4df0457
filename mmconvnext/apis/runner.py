"""Building a config's model or runner, and tearing the process group down after it.

The tools serve every task (segmentation, detection, classification): nothing here knows which one a config is.
"""

import contextlib
from collections.abc import Iterator

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import MODELS, RUNNERS, DefaultScope
from mmengine.runner import Runner

from mmconvnext.engine import ResumableRunner

__all__ = ['build_model', 'build_runner', 'distributed_teardown']


def build_model(cfg: Config, device: str = 'cpu') -> torch.nn.Module:
    """``cfg.model`` built in the config's default scope, its parameters on ``device`` (``'meta'``: no memory,
    for counting or checking construction)."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope') or 'mmengine'), torch.device(device):
        return MODELS.build(cfg.model)


def build_runner(cfg: Config) -> Runner:
    """The config's runner: its ``runner_type``, else :class:`mmconvnext.engine.ResumableRunner` (mmengine's
    ``Runner`` whose runs resume bit for bit, with atomic checkpoint writes).

    Without CUDA, a distributed launcher needs :func:`mmconvnext.apis.setup_cpu_distributed` called first.
    """
    return RUNNERS.build(cfg) if 'runner_type' in cfg else ResumableRunner.from_cfg(cfg)


@contextlib.contextmanager
def distributed_teardown() -> Iterator[None]:
    """Destroy the process group when the block ends, since mmengine leaves it up: a gloo group still alive at
    interpreter exit aborts the process ("terminate called without an active exception")."""
    ok = False
    try:
        yield
        ok = True
    finally:
        if dist.is_available() and dist.is_initialized():
            if ok:
                # every rank reaches this point before any closes its connections: a rank that
                # finished first (no checkpoint to write) and tore down its gloo pairs while
                # the others still used them aborted the job now and then
                dist.barrier()
            dist.destroy_process_group()
