"""Speed (and memory) of mmconvnext's ConvNeXt against the implementations users would
pick instead, or deploy instead, and against the machine's matmul rate, in one run.

    python tools/analysis/benchmark.py [--arch tiny] [--batch 8] [--size 224] [--threads 2]
                                       [--repeats 10] [--warmup 3] [--no-peers] [--no-compile]
                                       [--impls NAME ...] [--whole-model] [--whole-cases CASE ...] [--rounds N]
                                       [--det-size H W] [--bf16] [--compile] [--depthwise] [--profile]
                                       [--json FILE] [--results FILE]
    # with the peers (timm, mmpretrain) importable:
    PYTHONPATH=.peers:tools/peers/stub python tools/analysis/benchmark.py   (make bench)
    # the deployment peers are optional packages: pip install -e .[deploy]

It prints the CPU model, the package versions, the compute path mmconvnext's backbone
chose, and every ratio against mmconvnext's eager default from the one run.

Backbone (the 4-stage feature pyramid, as detection/segmentation use it): eval forward
under ``no_grad`` and a training forward+backward, timed after ``--warmup`` runs as the
median of ``--repeats``, for mmconvnext and, when importable, timm's
``convnext_<arch>(features_only=True)`` and mmpretrain's ``ConvNeXt``. What a user would
deploy instead (inference only): mmconvnext's backbone exported to ONNX once
(:func:`mmconvnext.deploy.export_onnx`, outputs checked within 1e-4 of PyTorch's) on
onnxruntime (CPU) and OpenVINO (CPU, fp32, LATENCY hint), ``--threads`` threads each; and
``torch.compile`` (inductor, freezing under ``no_grad``) of timm's model and of
mmconvnext's. A row whose package is absent, or whose compile fails here, is skipped with
one line saying why. ``--rounds N`` repeats the rows interleaved (A B C A B C ...). The
bound is the fp32 matmul rate (median of 2048^3 ``torch.mm``) over the model's FLOPs (2 x
the multiply-adds mmengine's FlopAnalyzer counts): ``ours/bound`` is the fraction of the
matmul rate the whole backbone reaches.

``--whole-model`` also times training steps (forward, backward, AdamW step): the
backbone alone (the benchmark's batch and size) with and without ``with_cp``; UperNet-T
(512x512, batch 2) and Mask R-CNN-T (``--det-size``, batch 2) built from the project's
configs, with mmconvnext's backbone, with mmpretrain's and with mmconvnext's on the plain
eager ops (``onednn_cpu=False``), UperNet-T
with ``with_cp=True``, and the segmentation demo's training iteration (its config's model,
optimizer and batch of 8 x 128x128), in seconds per iteration as ``tools/demo.py`` reports
them. Each case runs in a subprocess of its own so its
peak memory (the process's resident high-water mark above what it held before the
first step) is its own.

``--depthwise`` times each stage's depthwise conv pass by pass (forward, input and weight gradient), by aten
and by the compiled kernels, against the fp32 FMA rate (:mod:`.depthwise`); ``--profile`` runs the eager rows'
training steps under ``torch.profiler`` and reports each operator group's share of the step (:mod:`.profile`).

The pieces: :mod:`.backbone` (the backbone rows and the bound), :mod:`.whole` (the whole-model cases),
:mod:`.worker` (one row or case in its own process: ``python -m mmconvnext.analysis.bench.worker JOB``) and
:mod:`.report` (the run and its tables; :func:`main` is the tool's command line).
"""

from .report import build_parser, main

__all__ = ['build_parser', 'main']
