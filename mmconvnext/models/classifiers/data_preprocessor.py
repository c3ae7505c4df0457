"""Batch preparation for the classifier: device transfer, BGR->RGB, the paper's
batch-level training augmentations, normalisation, soft targets.

The per-image CPU pipeline only decodes, crops (RandomResizedCrop, bicubic) and flips;
everything after that runs here on whole batches, on the model's device (a GPU when
there is one), with a separate random draw per image where the recipe has one:

    uint8 RGB -> RandAugment (on [0, 1]) -> normalise -> Random Erasing -> Mixup/CutMix

(timm applies the same steps in the same order, RandAugment on PIL images, Erasing on
the normalised tensor, Mixup/CutMix on the batch.) Validation only normalises.
"""

from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from mmconvnext.registry import MODELS

from .mixup_cutmix import MixupCutmix
from .rand_augment import RandAugment
from .random_erasing import RandomErasing

__all__ = ['ClsDataPreprocessor']

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0..255
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class ClsDataPreprocessor(BaseDataPreprocessor):
    """Args:
    mean, std: per-channel normalisation (RGB, 0..255 scale).
    to_rgb: the pipeline's images are BGR (mmcv's ``LoadImageFromFile``).
    num_classes: classes of the targets (needed with ``mixup_cutmix``).
    rand_augment: kwargs of :class:`RandAugment`, or None (off).
    random_erasing: kwargs of :class:`RandomErasing`, or None (off).
    mixup_cutmix: kwargs of :class:`MixupCutmix` (without ``num_classes``), or None:
        then the batch keeps hard labels and the classifier applies its own label
        smoothing.
    """

    def __init__(
        self,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        to_rgb: bool = True,
        num_classes: Optional[int] = None,
        rand_augment: Optional[dict] = None,
        random_erasing: Optional[dict] = None,
        mixup_cutmix: Optional[dict] = None,
        non_blocking: bool = False,
    ) -> None:
        super().__init__(non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'mean and std need 3 values (RGB), got {mean!r} and {std!r}')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), False)
        self.to_rgb = to_rgb
        self.rand_augment = RandAugment(**rand_augment) if rand_augment is not None else None
        self.random_erasing = RandomErasing(**random_erasing) if random_erasing is not None else None
        if mixup_cutmix is not None and not num_classes:
            raise ValueError('ClsDataPreprocessor: mixup_cutmix needs num_classes')
        self.mixup_cutmix = MixupCutmix(num_classes=num_classes, **mixup_cutmix) if mixup_cutmix is not None else None
        self.num_classes = num_classes

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        device = self.mean.device.type
        # mmengine runs the preprocessor inside the optim wrapper's autocast region (--amp):
        # the augmentations' convs and warps would then round the images to bf16/fp16
        with torch.autocast(device, enabled=False):
            return self._prepare(data, training)

    def _prepare(self, data: dict, training: bool) -> dict:
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) != 1:
                raise ValueError(
                    f'ClsDataPreprocessor: images of one batch must share a size, got {sorted(shapes)}; '
                    'the pipeline should end with a crop to a fixed size'
                )
            inputs = torch.stack(list(inputs))
        inputs = inputs.float()
        if self.to_rgb:
            inputs = inputs.flip(1)  # BGR -> RGB
        samples = data.get('data_samples')
        if self.num_classes and samples:
            self._check_labels(samples)
        if training and self.rand_augment is not None:
            inputs = self.rand_augment(inputs / 255.0) * 255.0
        inputs = (inputs - self.mean) / self.std
        if training and self.random_erasing is not None:
            inputs = self.random_erasing(inputs)
        if training and self.mixup_cutmix is not None and samples:
            labels = torch.cat([s.gt_label for s in samples]).to(inputs.device)
            inputs, targets = self.mixup_cutmix(inputs, labels)
            for sample, target in zip(samples, targets):
                sample.set_field(target, 'gt_score')
        return dict(inputs=inputs, data_samples=samples)

    def _check_labels(self, samples: Sequence) -> None:
        """A ``ValueError`` naming the images whose label is not a class of the model: the loss would fail on
        an unnamed "Target 1000 is out of bounds" (mixup's one-hot: "index 1000 is out of bounds"), and the
        accuracy would count such samples as wrong without a word."""
        n = self.num_classes
        bad = [s for s in samples if 'gt_label' in s and not bool(((s.gt_label >= 0) & (s.gt_label < n)).all())]
        if not bad:
            return
        shown = [f'{s.metainfo.get("img_path", "?")} (label {s.gt_label.tolist()})' for s in bad[:3]]
        raise ValueError(
            f'ClsDataPreprocessor: {len(bad)} sample(s) of this batch have a label outside 0..{self.num_classes - 1} '
            f"(the model has num_classes={self.num_classes}), e.g. {', '.join(shown)}: the dataset's labels "
            '(its class folders, or the class indices of its annotation file) do not fit the model; give the model '
            "the dataset's class count (model.num_classes) or the dataset its classes"
        )
