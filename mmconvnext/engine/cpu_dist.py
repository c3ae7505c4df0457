"""Multi-process training without a GPU (gloo) through mmengine's own DDP path.

mmengine 0.10.7 assumes CUDA for ``launcher='pytorch'``: ``init_dist`` calls
``torch.cuda.set_device`` and the runner wraps the model with ``device_ids=[rank]``,
which DistributedDataParallel rejects for CPU modules. mmengine has no switch for
either, so this initialises the gloo process group from torchrun's environment before
the Runner does (the Runner then skips ``init_dist``) and asks for the DDP wrapper
without ``device_ids``. Everything else (samplers, DDP, hooks) stays mmengine's.
"""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def prepare_cpu_distributed(cfg: Config) -> bool:
    """For ``cfg.launcher == 'pytorch'`` on a machine without CUDA: init gloo and set
    ``cfg.model_wrapper_cfg`` for CPU DDP. Returns whether it did so."""
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ]
    if missing:
        raise RuntimeError(f'--launcher pytorch needs the torchrun environment (missing {missing}); '
                           'start it with tools/dist_train.sh')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                                                   find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None  # CPU module
    cfg.model_wrapper_cfg = wrapper
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    return True
