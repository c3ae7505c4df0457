"""Export a config's model to ONNX or OpenVINO, with what a runtime needs beside it.

    python tools/deployment/export.py CONFIG CHECKPOINT --format onnx|openvino --out DIR
                                      [--shape H W] [--dynamic] [--fp16] [--int8 [--calib N]] [--backbone-only]
                                      [--end2end]

Writes DIR/deploy.json (task, graphs, input shape, preprocessing, class names), DIR/config.py and one
<graph>.onnx per graph (--format openvino: also <graph>.xml/.bin). Classifier: ``classifier``; UperNet:
``segmentor`` (logits at the input size); Mask R-CNN / Cascade Mask R-CNN: ``backbone_neck``, ``rpn_head``,
``bbox_head{i}``, ``mask_head{i}`` (NMS, RoIAlign and box/mask decoding run in mmdet/mmcv at inference; see
docs/deployment.md); with --end2end one graph, ``detector``: image -> boxes, scores, labels and RoI-resolution
masks, NMS and RoIAlign in the graph as ONNX operators (runs with ``DIR/run.py``: numpy, OpenCV and a runtime).
--backbone-only: the backbone's multi-scale features.

Then: ``tools/deployment/infer.py DIR IMAGE... --backend onnxruntime|openvino --out-dir VIS`` or
``tools/test.py CONFIG DIR --backend onnxruntime|openvino``. Parity against PyTorch is checked after export
(``--no-check`` skips it); the export fails when a graph differs by more than 1e-4 relative.
"""

import argparse
import copy
import sys

from mmconvnext.apis import load_config
from mmconvnext.deploy import FORMATS, DeployError, check_export, export_model, load_model


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export an mmconvnext model to ONNX / OpenVINO')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help="checkpoint of this config's model")
    parser.add_argument('--format', choices=FORMATS, default='onnx', help='onnx (default) or openvino (IR + ONNX)')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), help='input size (default: the config)')
    parser.add_argument('--dynamic', action='store_true', help='dynamic height and width (the batch is always dynamic)')
    parser.add_argument('--fp16', action='store_true', help='float16 weights/activations, fp32 I/O and LayerNorms')
    parser.add_argument('--backbone-only', action='store_true', help='export the backbone (multi-scale features)')
    parser.add_argument(
        '--int8', action='store_true', help="int8 graphs (post-training quantization on the config's test images)"
    )
    parser.add_argument('--calib', type=int, default=64, metavar='N', help='--int8: calibration images (default 64)')
    parser.add_argument(
        '--end2end', action='store_true', help='a detector as one graph: image -> boxes, scores, labels, masks'
    )
    parser.add_argument('--no-check', action='store_true', help='skip the parity check against PyTorch')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config)
    part = 'backbone' if args.backbone_only else 'model'
    try:
        model = load_model(copy.deepcopy(cfg), args.checkpoint)  # loaded once, for the export and its check
        meta = export_model(
            cfg,
            args.checkpoint,
            args.out,
            args.format,
            args.shape,
            args.dynamic,
            args.fp16,
            part,
            model=model,
            int8=args.int8,
            calib=args.calib,
            end2end=args.end2end,
        )
        print(f'[export] {meta["task"]}: {", ".join(meta["parts"])} -> {args.out} (input {meta["input_shape"]})')
        if not args.no_check:
            for line in check_export(cfg, args.checkpoint, args.out, model=model):
                print(f'[export] {line}')
    except DeployError as e:
        sys.exit(f'[export] error: {e}')


if __name__ == '__main__':
    main()
