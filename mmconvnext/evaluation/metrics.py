"""Top-k classification accuracy (mmpretrain's ``Accuracy``, written here because
mmpretrain cannot be imported in this environment), and the validation loss of FCMAE
pre-training.

    val_evaluator = dict(type='mmconvnext.Accuracy', topk=(1, 5))
    # -> {'accuracy/top1': 81.2, 'accuracy/top5': 95.6}  (percent)
    val_evaluator = dict(type='mmconvnext.ReconstructionLoss')  # -> {'fcmae/loss': 0.41}
"""

import warnings
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.structures import BaseDataElement

from mmconvnext.registry import METRICS

__all__ = ['Accuracy', 'ReconstructionLoss']


def _field(sample: Union[BaseDataElement, dict], key: str, index: int) -> Any:
    value = sample.get(key) if isinstance(sample, (dict, BaseDataElement)) else None
    if value is None:
        keys = sorted(sample.keys()) if isinstance(sample, (dict, BaseDataElement)) else type(sample).__name__
        raise KeyError(
            f"Accuracy: data sample {index} has no '{key}' (it has {keys}); expected the classifier's "
            "outputs with 'pred_score' (class scores) and 'gt_label' (the true class)"
        )
    return value


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Top-k accuracy in percent, one metric ``top{k}`` per k (``accuracy/top1``, ...).

    Each data sample (a ``BaseDataElement`` or, as mmengine's ``Evaluator`` passes
    them, its ``to_dict()``) needs ``pred_score`` (a float tensor of the class scores)
    and ``gt_label`` (the true class: an int or a tensor of shape (1,)). A sample is
    right at k when its class is among the k best-scored; equal scores rank the lower
    class index first (deterministic). A k larger than the number of classes counts as
    that number (with one warning). Results are gathered across ranks by
    ``BaseMetric`` (one small entry per sample).

    Args:
        topk: the k (or ks) to report.
        collect_device: ``'cpu'`` or ``'gpu'``, how ranks gather results.
        prefix: the metric name prefix; default ``'accuracy'``.
        collect_dir: the temporary directory of the ``'cpu'`` gathering.
        classwise: also log a table of the top-1 accuracy of each class, by the dataset's class names
            (as mmdet's ``CocoMetric(classwise=True)`` and mmseg's ``IoUMetric`` do); the returned metrics
            are unchanged.
    """

    default_prefix: Optional[str] = 'accuracy'

    def __init__(
        self,
        topk: Union[int, Sequence[int]] = (1, 5),
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
        collect_dir: Optional[str] = None,
        classwise: bool = False,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.classwise = bool(classwise)
        ks = (topk,) if isinstance(topk, (int, np.integer)) else tuple(topk)
        if not ks or not all(isinstance(k, (int, np.integer)) and k >= 1 for k in ks):
            raise ValueError(f'Accuracy: topk must be a positive int or a sequence of them, got {topk!r}')
        self.topk = tuple(int(k) for k in ks)
        self._warned = False

    def process(self, data_batch: Any, data_samples: Sequence[Union[BaseDataElement, dict]]) -> None:
        kmax = max(self.topk)
        for i, sample in enumerate(data_samples):
            score = torch.as_tensor(_field(sample, 'pred_score', i)).detach().reshape(-1).float().cpu()
            label = torch.as_tensor(_field(sample, 'gt_label', i)).reshape(-1)
            if label.numel() != 1:
                raise ValueError(
                    f'Accuracy: data sample {i} has gt_label of shape {tuple(label.shape)}, expected one class index'
                )
            num_classes = score.numel()
            if kmax > num_classes and not self._warned:
                self._warned = True
                warnings.warn(
                    f'Accuracy: topk={self.topk} asks for more classes than the {num_classes} scored; '
                    f'top-k for k > {num_classes} is computed as top-{num_classes}',
                    stacklevel=2,
                )
            # a stable descending sort: equal scores keep the lower class index first
            order = torch.sort(score, descending=True, stable=True).indices[:kmax]
            self.results.append(dict(topk=order.numpy().astype(np.int64), gt_label=int(label.item())))

    def compute_metrics(self, results: list[dict]) -> dict:
        metrics = {}
        for k in self.topk:
            if not results:
                metrics[f'top{k}'] = 0.0
                continue
            correct = sum(r['gt_label'] in r['topk'][:k] for r in results)
            metrics[f'top{k}'] = 100.0 * correct / len(results)
        if self.classwise and results:
            self._log_classwise(results)
        return metrics

    def _log_classwise(self, results: list[dict]) -> None:
        from mmengine.logging import MMLogger

        names = list((self.dataset_meta or {}).get('classes') or [])
        counts: dict = {}
        for r in results:
            total, right = counts.get(r['gt_label'], (0, 0))
            counts[r['gt_label']] = (total + 1, right + int(r['topk'][0] == r['gt_label']))
        rows = [('class', 'images', 'top-1')]
        for label in sorted(set(range(len(names))) | set(counts)):
            total, right = counts.get(label, (0, 0))
            name = names[label] if label < len(names) else str(label)
            rows.append((name, str(total), f'{100.0 * right / total:.2f}' if total else '-'))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ['| ' + ' | '.join(c.ljust(w) for c, w in zip(r, widths)) + ' |' for r in rows]
        rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'
        MMLogger.get_current_instance().info(
            'per class results:\n' + '\n'.join([rule, lines[0], rule, *lines[1:], rule])
        )


@METRICS.register_module()
class ReconstructionLoss(BaseMetric):
    """The masked-image-modelling loss over a validation set (``fcmae/loss``): the mean of
    each image's loss on its masked patches, as ``mmconvnext.FCMAE``'s ``predict`` reports
    it in the data sample's ``loss`` (with a fixed mask per image, so epochs compare).

    Args:
        collect_device, prefix, collect_dir: as :class:`mmengine.evaluator.BaseMetric`;
            the default prefix is ``'fcmae'``.
    """

    default_prefix: Optional[str] = 'fcmae'

    def process(self, data_batch: Any, data_samples: Sequence[Union[BaseDataElement, dict]]) -> None:
        for i, sample in enumerate(data_samples):
            value = sample.get('loss') if isinstance(sample, (dict, BaseDataElement)) else None
            if value is None:
                raise KeyError(
                    f"ReconstructionLoss: data sample {i} has no 'loss'; expected the outputs of a masked "
                    "image model's predict (mmconvnext.FCMAE)"
                )
            self.results.append(float(torch.as_tensor(value).float().mean()))

    def compute_metrics(self, results: list) -> dict:
        return {'loss': float(np.mean(results)) if results else float('nan')}
