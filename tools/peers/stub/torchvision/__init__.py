"""A stand-in for torchvision, for the peers only (tools/peers/install.sh).

timm and mmpretrain import torchvision when they are imported, and no torchvision build loads against the
CPU build of torch these machines use. Their ConvNeXt code never calls it. Put on ``PYTHONPATH`` beside
``.peers``, this package answers ``import torchvision`` and any ``torchvision.<sub>.<name>`` with empty
placeholders, so that the peers import. It is for the parity tests and benchmarks: never on a user's path.
"""

import importlib.abc
import importlib.machinery
import sys
import types

__version__ = '0.0.0+mmconvnext.stub'


class _Placeholder(types.ModuleType):
    """A module whose every public attribute is another placeholder; calling it returns itself and
    subclassing it subclasses ``object`` (what the peers' import-time code does with torchvision names)."""

    def __getattr__(self, name: str):
        if name.startswith('__'):
            raise AttributeError(name)
        child = _Placeholder(f'{self.__name__}.{name}')
        setattr(self, name, child)
        return child

    def __call__(self, *args, **kwargs):
        return self

    def __mro_entries__(self, bases):
        return (object,)


class _Submodules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import torchvision.x.y``: a placeholder package for every submodule."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(__name__ + '.'):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Placeholder(spec.name)

    def exec_module(self, module):
        module.__path__ = []


if not any(isinstance(f, _Submodules) for f in sys.meta_path):
    sys.meta_path.insert(0, _Submodules())


def __getattr__(name: str):
    if name.startswith('__'):
        raise AttributeError(name)
    return importlib.import_module(f'{__name__}.{name}')
