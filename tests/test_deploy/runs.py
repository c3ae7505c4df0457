"""The deployment tests' one way to evaluate a config: its own test loop, on PyTorch or on an export."""

import copy

import torch
from mmengine.config import Config

from mmconvnext.apis import build_runner
from mmconvnext.deploy import attach_backend


def evaluate(cfg: Config, work_dir: str, checkpoint: str, directory: str = None, backend: str = None) -> tuple:
    """The config's test loop with ``checkpoint``: (metrics, the predictions of the first batch). With
    ``backend``, the export in ``directory`` runs on it and every PyTorch parameter is NaN, so nothing of
    PyTorch's model can leak into the numbers."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir, cfg.load_from = str(work_dir), checkpoint
    runner = build_runner(cfg)
    if backend:
        attach_backend(runner.model, directory, backend, model_cfg=cfg.model)
        for param in runner.model.parameters():
            param.data.fill_(float('nan'))
    metrics = runner.test()
    with torch.no_grad():
        return metrics, runner.model.test_step(next(iter(runner.test_dataloader)))
