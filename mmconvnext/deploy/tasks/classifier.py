"""Classification (:class:`mmconvnext.models.classifiers.ConvNeXtClassifier`): one graph, ``classifier``,
image batch -> logits; at runtime it replaces the feature extractor and the head; a record holds the top 5."""

import torch
from torch import nn

from ..base import ExportPart
from . import DeployTask, register


class _Logits(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.head(self.model.extract_feat(x))


@register
class Classification(DeployTask):
    name = 'classification'

    def matches(self, model: nn.Module) -> bool:
        from mmconvnext.models.classifiers import ConvNeXtClassifier

        return isinstance(model, ConvNeXtClassifier)

    def parts(self, model, image, image_axes, dynamic) -> list:
        axes = {'input': image_axes, 'logits': {0: 'batch'}}
        return [ExportPart('classifier', _Logits(model), (image,), ['input'], ['logits'], axes)]

    def attach(self, model, graph) -> None:
        logits = graph('classifier')
        model.extract_feat = lambda x: logits(x)[0]
        model.head = nn.Identity()

    def record(self, sample, class_name) -> dict:
        scores = sample.pred_score
        top = torch.topk(scores, min(5, scores.numel()))
        return {'top5': [[class_name(int(i)), float(s)] for s, i in zip(top.values, top.indices)]}
