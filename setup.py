import os
import platform
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version: dict = {}
exec((here / 'mmconvnext' / 'version.py').read_text(), version)


def requirements(name: str) -> list[str]:
    lines = (here / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


def extensions() -> dict:
    """The compiled CPU kernels (mmconvnext/csrc), built like mmcv's ops where torch's C++ extension tools and
    an x86-64 compiler are at hand; optional: a failed compile leaves the package on the aten path (logged
    once at run time). ``MMCONVNEXT_NO_EXT=1`` skips them."""
    if os.environ.get('MMCONVNEXT_NO_EXT') == '1' or platform.machine() not in ('x86_64', 'AMD64'):
        return {}
    try:
        from torch.utils.cpp_extension import BuildExtension, CppExtension
    except ImportError:  # torch not installed yet (pip's isolated builds): pure Python
        return {}
    # AVX2 + FMA: every x86-64 CPU these kernels were measured on; the Python side checks the CPU before use.
    # The AVX-512 loops are compiled beside them (`#pragma GCC target`) and chosen at run time. GCC's generic
    # tuning splits unaligned 256-bit loads in two, which halved the AVX2 loops' rate: not here.
    flags = ['-O3', '-fopenmp', '-mavx2', '-mfma', '-ffp-contract=fast']
    flags += ['-mno-avx256-split-unaligned-load', '-mno-avx256-split-unaligned-store']
    ext = CppExtension(
        'mmconvnext._depthwise_conv',
        ['mmconvnext/csrc/depthwise_conv.cpp'],
        depends=['mmconvnext/csrc/depthwise_simd.h'],
        extra_compile_args=flags,
        extra_link_args=['-fopenmp'],
    )
    ext.optional = True
    return dict(ext_modules=[ext], cmdclass={'build_ext': BuildExtension.with_options(use_ninja=False)})


setup(
    name='mmconvnext',
    version=version['__version__'],
    description='ConvNeXt for dense prediction and classification on OpenMMLab 2.x',
    long_description=(here / 'README.md').read_text() if (here / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmconvnext', 'mmconvnext.*']),
    python_requires='>=3.9',
    install_requires=requirements('requirements.txt'),
    extras_require={
        'dev': requirements('requirements-dev.txt'),
        # export to ONNX / OpenVINO and the runtimes (mmconvnext.deploy, tools/deployment, the benchmark)
        'deploy': requirements('requirements-deploy.txt'),
    },
    license='Apache-2.0',
    **extensions(),
)
