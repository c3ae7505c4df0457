from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version: dict = {}
exec((here / 'mmconvnext' / 'version.py').read_text(), version)


def requirements(name: str) -> list[str]:
    lines = (here / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


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
)
