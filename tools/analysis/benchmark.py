"""Speed (and memory) of mmconvnext's ConvNeXt against the implementations users would pick instead, or deploy
instead, and against the machine's matmul rate, in one run.

    python tools/analysis/benchmark.py [--arch tiny] [--batch 8] [--size 224] [--threads 2]
                                       [--repeats 10] [--warmup 3] [--no-peers] [--no-compile]
                                       [--impls NAME ...] [--whole-model] [--whole-cases CASE ...] [--rounds N]
                                       [--det-size H W] [--bf16] [--compile] [--json FILE] [--results FILE]
    # with the peers (timm, mmpretrain) importable:
    PYTHONPATH=.peers:tools/peers/stub python tools/analysis/benchmark.py   (make bench)
    # the deployment peers are optional packages: pip install -e .[deploy]

What each row and case measures, and how: :mod:`mmconvnext.analysis.bench`.
"""

import sys

from mmconvnext.analysis.bench import main

if __name__ == '__main__':
    sys.exit(main())
