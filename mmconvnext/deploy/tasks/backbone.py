"""The backbone alone (any config, ``part='backbone'``): one graph, ``backbone``, image batch -> the multi-scale
features. Never matched from a model's type; it runs on its own, not in place of a model's part."""

import torch

from ..base import ExportPart, Flatten
from . import DeployTask, register


@register
class Backbone(DeployTask):
    name = 'backbone'

    def parts(self, model, image, image_axes, dynamic) -> list:
        with torch.no_grad():
            levels = model.backbone(image)
        names = [f'feat{i}' for i in range(len(levels))]
        axes = {n: {0: 'batch', 2: f'h{i}', 3: f'w{i}'} if dynamic else {0: 'batch'} for i, n in enumerate(names)}
        module = Flatten(model.backbone, model.backbone)
        return [ExportPart('backbone', module, (image,), ['input'], names, {'input': image_axes, **axes})]
