"""One adapter per deploy task: which parts of the model become graphs, how the graphs take their place at
runtime, and what a prediction record holds. Adding a task means adding one module here that defines a
:class:`DeployTask` subclass decorated with :func:`register`; every module of this package is imported below,
so nothing else changes (the exporter, the runtime, the parity check and ``inference`` ask the adapter).
"""

import importlib
import pkgutil
from typing import Callable

import torch
from torch import nn

from ..base import DeployError, ExportPart

__all__ = ['TASKS', 'DeployTask', 'get_task', 'register', 'task_of']

#: name -> adapter, in the order the modules register
TASKS: dict = {}


class DeployTask:
    """A deploy task. Subclasses set ``name`` (what ``deploy.json`` records as its ``task``) and implement:

    - :meth:`matches`: whether a built model is of this task (:func:`task_of` asks every task);
    - :meth:`parts`: the graphs to export, traced on example inputs;
    - :meth:`attach`: put the graphs (``graph(name)`` returns one, callable on torch tensors and returning a list
      of tensors) in place of the model's learned parts, so that its own test step runs on them;
    - :meth:`record`: the JSON-able prediction record of one data sample (``inference``'s predictions.json).
    """

    name = ''

    def matches(self, model: nn.Module) -> bool:
        return False

    def parts(self, model: nn.Module, image: torch.Tensor, image_axes: dict, dynamic: bool) -> list:
        raise NotImplementedError

    def attach(self, model: nn.Module, graph: Callable) -> None:
        """Not overridden: the task's export runs on its own, not in place of a model's parts."""
        raise DeployError(f'a {self.name!r} export runs on its own, not inside a model')

    def record(self, sample, class_name: Callable[[int], object]) -> dict:
        raise NotImplementedError


def register(cls: type) -> type:
    """Class decorator: add an instance of the :class:`DeployTask` subclass ``cls`` to :data:`TASKS`."""
    if not cls.name or cls.name in TASKS:
        raise ValueError(f'deploy task {cls.__name__}: name {cls.name!r} is empty or taken')
    TASKS[cls.name] = cls()
    return cls


def get_task(name: str) -> DeployTask:
    """The adapter of task ``name``.

    Raises:
        DeployError: no such task (the known ones are named).
    """
    if name not in TASKS:
        raise DeployError(f'unknown deploy task {name!r} (known: {sorted(TASKS)})')
    return TASKS[name]


def task_of(model: nn.Module) -> str:
    """The name of the task ``model`` is exported as.

    Raises:
        DeployError: a model no task matches, named.
    """
    for name, task in TASKS.items():
        if task.matches(model):
            return name
    hint = ''
    if hasattr(model, 'panoptic_head'):  # mmdet's MaskFormer / Mask2Former
        hint = (
            " (mmdet's Mask2Former panoptic / instance models are not exported: their fusion of queries into "
            'segments sorts and filters per image; the semantic Mask2Former of mmseg exports)'
        )
    raise DeployError(
        f'{type(model).__name__}: export handles ConvNeXtClassifier, mmseg EncoderDecoder (UperNet, DeepLabV3+, '
        'Mask2Former) and mmdet two-stage detectors (Mask R-CNN, Cascade Mask R-CNN)'
        f"{hint}; use part='backbone' to export the backbone alone"
    )


def image_part(name: str, module: nn.Module, image: torch.Tensor, image_axes: dict, output: str) -> ExportPart:
    """A one-graph task's part: the image batch in, one output ``output`` with the image's dynamic axes."""
    return ExportPart(name, module, (image,), ['input'], [output], {'input': image_axes, output: image_axes})


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f'{__name__}.{_module.name}')
