"""Multi-process training and testing without a GPU (gloo) through mmengine's own DDP path.

mmengine 0.10.7 assumes CUDA for ``launcher='pytorch'`` and ``'slurm'``: ``init_dist`` calls
``torch.cuda.set_device`` and the runner wraps the model with ``device_ids=[rank]``, which
DistributedDataParallel rejects for CPU modules. mmengine has no switch for either, so when there is no CUDA
the tools do two things themselves, in two steps:

1. :func:`use_cpu_distributed` (a config edit, made by :func:`mmconvnext.apis.apply_cli_args`): gloo as the
   backend and :class:`mmconvnext.engine.CPUDistributedDataParallel` as the model wrapper;
2. :func:`setup_cpu_distributed` (process set-up, called by the tools before they build the runner): the
   gloo process group from the torchrun (or slurm) environment, so that the Runner skips ``init_dist``.

Everything else (samplers, DDP, hooks) stays mmengine's.
"""

import os
import subprocess
from collections.abc import MutableMapping

import torch
import torch.distributed as dist
from mmengine.config import Config

__all__ = ['setup_cpu_distributed', 'slurm_to_torch_env', 'use_cpu_distributed']

_TORCH_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def _cpu_launcher(cfg: Config) -> bool:
    """Whether ``cfg.launcher`` starts several processes that have no CUDA to run on."""
    return cfg.get('launcher', 'none') in ('pytorch', 'slurm') and not torch.cuda.is_available()


def slurm_to_torch_env(environ: MutableMapping[str, str] = os.environ) -> None:
    """Fill torchrun's variables from slurm's, as mmengine's slurm launcher does (it then calls the CUDA-only
    ``torch.cuda.set_device``, which this avoids)."""
    missing = [k for k in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST') if k not in environ]
    if missing:
        raise RuntimeError(
            f'--launcher slurm needs the slurm job environment (missing {missing}); start it with tools/slurm_train.sh'
        )
    environ['RANK'] = environ['SLURM_PROCID']
    environ['WORLD_SIZE'] = environ['SLURM_NTASKS']
    environ['LOCAL_RANK'] = environ.get('SLURM_LOCALID', '0')
    environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in environ:
        nodes = environ['SLURM_NODELIST']
        try:
            first = subprocess.run(
                ['scontrol', 'show', 'hostnames', nodes], capture_output=True, text=True, check=True
            ).stdout.split()[0]
        except (OSError, subprocess.CalledProcessError, IndexError) as e:
            raise RuntimeError(
                f'cannot resolve the master node of SLURM_NODELIST={nodes!r} with scontrol; set MASTER_ADDR'
            ) from e
        environ['MASTER_ADDR'] = first


def use_cpu_distributed(cfg: Config) -> bool:
    """For ``cfg.launcher`` ``'pytorch'`` or ``'slurm'`` on a machine without CUDA: gloo as the backend and
    :class:`mmconvnext.engine.CPUDistributedDataParallel` as the model wrapper (a user's own wrapper at
    least loses its ``device_ids``). Returns whether it edited the config."""
    if not _cpu_launcher(cfg):
        return False
    if 'env_cfg' not in cfg:  # (setdefault would hand back a dict the config does not keep)
        cfg.env_cfg = {}
    if 'dist_cfg' not in cfg.env_cfg:
        cfg.env_cfg.dist_cfg = {}
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False),
    )
    if wrapper.get('type') in ('MMDistributedDataParallel', 'mmengine.MMDistributedDataParallel'):
        wrapper['type'] = 'mmconvnext.CPUDistributedDataParallel'
    else:
        wrapper['device_ids'] = None  # the user's own wrapper: at least make it a CPU one
    cfg.model_wrapper_cfg = wrapper
    return True


def setup_cpu_distributed(cfg: Config) -> bool:
    """For ``cfg.launcher`` ``'pytorch'`` or ``'slurm'`` on a machine without CUDA: initialise the gloo
    process group (slurm's environment translated first) before the Runner would call the CUDA-only
    ``init_dist``. Returns whether it did so; a no-op otherwise.

    Raises:
        RuntimeError: the launcher's environment (torchrun's or slurm's variables) is incomplete.
    """
    if not _cpu_launcher(cfg):
        return False
    if cfg.launcher == 'slurm':
        slurm_to_torch_env()
    missing = [k for k in _TORCH_ENV if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the torchrun environment (missing {missing}); '
            'start it with tools/dist_train.sh or tools/dist_test.sh'
        )
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    return True
