"""A toy classifier and dataset with randomness everywhere (drop path, dropout, augmentations drawing from
torch, numpy and python), registered in mmengine's root registries so that configs (``custom_imports=
['tests.test_engine.toy']``) can train them through the tools in seconds."""

import random

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, MODELS
from torch.utils.data import Dataset

from mmconvnext.models import ConvNeXt

TINY_ARCH = {'depths': [1, 1, 3, 1], 'channels': [8, 16, 32, 64]}


@MODELS.register_module(name='ToyNoisyClassifier', force=True)
class NoisyClassifier(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = ConvNeXt({k: list(v) for k, v in TINY_ARCH.items()}, drop_path_rate=0.3)
        self.drop = torch.nn.Dropout(0.3)
        self.head = torch.nn.Linear(64, 3)

    def forward(self, inputs, label, mode='tensor'):
        logits = self.head(self.drop(self.backbone(inputs)[0]))
        if mode == 'loss':
            return {'loss': F.cross_entropy(logits, label)}
        return logits


@DATASETS.register_module(name='ToyAugmentedData', force=True)
class AugmentedData(Dataset):
    """Every item drawn with python's, numpy's and torch's global generators, as mmcv/mmseg/mmdet
    transforms do."""

    test_mode = False

    def __init__(self, n=24, **_):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 3, 32, 32, generator=g)
        self.y = torch.randint(0, 3, (n,), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        if random.random() < 0.5:
            x = x.flip(-1)
        x = x * float(np.random.uniform(0.8, 1.2)) + 0.1 * torch.randn(x.shape)
        return {'inputs': x, 'label': self.y[i]}
