"""The ImageNet classifier of "A ConvNet for the 2020s" (Liu et al., CVPR 2022):
the project's one ConvNeXt backbone (global average pool -> LayerNorm) and a Linear
head, trained with soft-target cross-entropy (Mixup/CutMix targets, label smoothing).

mmpretrain's ``ImageClassifier`` would fit, but mmpretrain cannot be imported here (it
needs torchvision), so this small mmengine ``BaseModel`` takes its place. Its state dict
is ``backbone.*`` + ``head.fc.*``: the layout every dense config's ``init_cfg``
(``prefix='backbone.'``) and :mod:`mmconvnext.checkpoint` already read, so a trainer
checkpoint serves detection and segmentation as it is. Official, timm and mmpretrain
classifier state dicts are converted on load (``tools/test.py CONFIG their.pth``).
"""

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import nn

from mmconvnext.registry import MODELS

__all__ = ['ConvNeXtClassifier', 'LinearClsHead', 'soft_target_cross_entropy']


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``-sum_k targets_k * log softmax(logits)_k`` (timm's
    ``SoftTargetCrossEntropy``); ``targets`` rows are distributions."""
    return torch.sum(-targets * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


@MODELS.register_module()
class LinearClsHead(nn.Module):
    """``fc``: Linear(in_channels, num_classes), truncated-normal(std 0.02) weights and
    zero bias, both multiplied by ``init_scale`` (the official ``head_init_scale``: 1 for
    training from scratch, 0.001 for the 384 fine-tunes)."""

    def __init__(self, in_channels: int, num_classes: int, init_scale: float = 1.0) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes!r}')
        self.init_scale = init_scale
        self.fc = nn.Linear(in_channels, num_classes)

    def init_weights(self) -> None:
        nn.init.trunc_normal_(self.fc.weight, std=0.02)
        nn.init.zeros_(self.fc.bias)
        with torch.no_grad():
            self.fc.weight.mul_(self.init_scale)
            self.fc.bias.mul_(self.init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


@MODELS.register_module()
class ConvNeXtClassifier(BaseModel):
    """Backbone (pooled features) -> Linear head.

    Args:
        backbone: config of a backbone returning one ``(N, C)`` vector, i.e.
            ``mmconvnext.ConvNeXt`` with ``gap_before_final_norm=True`` and a single
            (the last) ``out_indices``.
        num_classes: classes of the head.
        head_init_scale: see :class:`LinearClsHead`.
        label_smoothing: used when a batch carries hard labels (no Mixup/CutMix); with
            Mixup/CutMix the data preprocessor's soft targets (smoothing included) are used.
        data_preprocessor: normally ``mmconvnext.ClsDataPreprocessor``.
        init_cfg: mmengine init config; a ``Pretrained`` entry on the backbone is the
            usual way to start from weights.

    Modes: ``loss`` -> ``{'loss': ...}``; ``predict`` -> data samples with
    ``pred_score`` (softmax) and ``pred_label``; ``tensor`` -> logits.
    """

    def __init__(
        self,
        backbone: dict,
        num_classes: int,
        head_init_scale: float = 1.0,
        label_smoothing: float = 0.0,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f'label_smoothing must be in [0, 1), got {label_smoothing!r}')
        if isinstance(data_preprocessor, dict) and str(data_preprocessor.get('type')).endswith('ClsDataPreprocessor'):
            # one place for num_classes and label smoothing: the model's
            data_preprocessor = dict(data_preprocessor)
            data_preprocessor.setdefault('num_classes', num_classes)
            if data_preprocessor.get('mixup_cutmix') is not None:
                data_preprocessor['mixup_cutmix'] = dict(data_preprocessor['mixup_cutmix'])
                data_preprocessor['mixup_cutmix'].setdefault('label_smoothing', label_smoothing)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        if not getattr(self.backbone, 'gap_before_final_norm', False):
            raise ValueError(
                'ConvNeXtClassifier: the backbone must pool before its final norm; '
                'set backbone.gap_before_final_norm=True'
            )
        out_channels = getattr(self.backbone, 'out_channels', None)
        if out_channels is None or len(out_channels) != 1:
            raise ValueError(
                'ConvNeXtClassifier: the backbone must return exactly one output '
                f'(out_indices=-1), it returns {out_channels}'
            )
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.head = LinearClsHead(out_channels[0], num_classes, init_scale=head_init_scale)
        self._register_load_state_dict_pre_hook(self._convert_foreign_checkpoint)

    # ------------------------------------------------------------------ forward
    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.backbone(inputs)[-1]

    def forward(
        self, inputs: torch.Tensor, data_samples: Optional[list[BaseDataElement]] = None, mode: str = 'tensor'
    ) -> Union[dict[str, torch.Tensor], list[BaseDataElement], torch.Tensor]:
        logits = self.head(self.extract_feat(inputs))
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            return {'loss': self.loss(logits, data_samples)}
        if mode == 'predict':
            return self.predict(logits, data_samples)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def loss(self, logits: torch.Tensor, data_samples: Sequence[BaseDataElement]) -> torch.Tensor:
        if data_samples and 'gt_score' in data_samples[0]:  # Mixup/CutMix soft targets
            targets = torch.stack([s.gt_score for s in data_samples]).to(logits.device)
            return soft_target_cross_entropy(logits, targets)
        labels = torch.cat([s.gt_label for s in data_samples]).to(logits.device)
        return F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)

    def predict(
        self, logits: torch.Tensor, data_samples: Optional[list[BaseDataElement]] = None
    ) -> list[BaseDataElement]:
        scores = F.softmax(logits.float(), dim=-1)
        data_samples = data_samples or [BaseDataElement() for _ in range(len(logits))]
        for sample, score in zip(data_samples, scores):
            sample.set_field(score, 'pred_score')
            sample.set_field(score.argmax(keepdim=True), 'pred_label')
        return data_samples

    # ------------------------------------------------------------------ checkpoints
    @staticmethod
    def _convert_foreign_checkpoint(state_dict: dict, prefix: str, *args) -> None:
        """Before loading: an official, timm or mmpretrain classifier state dict (also
        a whole checkpoint dict nested under ``model``) becomes this model's layout, in
        place, so ``tools/test.py CONFIG official.pth`` evaluates it with its head."""
        from mmconvnext.checkpoint import CheckpointError, convert_to_mmconvnext, extract_state_dict

        own = {k[len(prefix) :]: k for k in state_dict if k.startswith(prefix)}
        if any(k.startswith('backbone.') for k in own):
            return  # already this layout (mmconvnext, mmpretrain)
        try:
            flat = extract_state_dict({k: state_dict[full] for k, full in own.items()})
            converted, _ = convert_to_mmconvnext(flat)
        except CheckpointError:
            return  # not a ConvNeXt classifier: the normal missing/unexpected-key report follows
        for full in own.values():
            del state_dict[full]
        state_dict.update({prefix + k: v for k, v in converted.items()})
