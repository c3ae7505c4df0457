"""Shared fixtures: small archs and inputs keep the suite fast on a 2-core CPU."""
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

#: a 4-stage ConvNeXt small enough for gradient checks in milliseconds
TINY_ARCH = {'depths': [1, 1, 3, 1], 'channels': [8, 16, 32, 64]}


@pytest.fixture
def tiny_arch() -> dict:
    return {k: list(v) for k, v in TINY_ARCH.items()}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
