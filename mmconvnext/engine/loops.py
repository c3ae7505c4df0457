"""Validation of the raw and the EMA weights in one pass of the schedule.

mmengine's ``EMAHook`` swaps the averaged weights in for validation, so a plain
``ValLoop`` reports only them. The paper (and the official repository) report both,
so :class:`RawAndEMAValLoop` first evaluates the raw weights with the same dataloader
and evaluator, then runs the usual EMA validation. Metrics: ``accuracy/top1`` etc.
are the EMA weights' (the weights mmengine saves as the checkpoint's ``state_dict``,
so ``tools/test.py`` on that checkpoint reports the same numbers); ``raw/accuracy/top1``
etc. are the raw weights'. Without an EMAHook it is mmengine's ValLoop.
"""

import torch
from mmengine.hooks import EMAHook
from mmengine.runner import ValLoop

from mmconvnext.registry import LOOPS

__all__ = ['RawAndEMAValLoop']


@LOOPS.register_module()
class RawAndEMAValLoop(ValLoop):
    def run(self) -> dict:
        if not any(isinstance(h, EMAHook) for h in self.runner.hooks):
            return super().run()
        self.runner.call_hook('before_val')
        raw = {f'raw/{k}': v for k, v in self._evaluate().items()}
        self.runner.call_hook('before_val_epoch')  # the EMAHook swaps the EMA weights in
        metrics = self._evaluate()
        metrics.update(raw)
        self.runner.call_hook('after_val_epoch', metrics=metrics)  # ... and back out
        self.runner.call_hook('after_val')
        return metrics

    @torch.no_grad()
    def _evaluate(self) -> dict:
        self.runner.model.eval()
        self.val_loss.clear()
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        return self.evaluator.evaluate(len(self.dataloader.dataset))
