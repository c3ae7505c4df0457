"""Run an exported model (tools/deployment/export.py) on image files with its config's pre/post-processing.

    python tools/deployment/infer.py EXPORT_DIR IMAGE [IMAGE ...] --backend onnxruntime|openvino
                                     [--out-dir DIR] [--threads N]

Segmentation and detection: DIR/<image>.png, the prediction drawn by the config's visualizer (as
``tools/test.py --show-dir`` draws it); every task: DIR/predictions.json (top-5 classes, pixels per class, or
boxes/scores/labels).
"""

import argparse
import sys

from mmconvnext.deploy import BACKENDS, DeployError, inference


def main() -> None:
    parser = argparse.ArgumentParser(description='Inference with an exported mmconvnext model')
    parser.add_argument('export_dir', help='the directory tools/deployment/export.py wrote')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--backend', choices=BACKENDS, default='onnxruntime')
    parser.add_argument('--out-dir', help='where the drawings and predictions.json go')
    parser.add_argument('--threads', type=int, help="intra-op threads (default: PyTorch's, OMP_NUM_THREADS)")
    args = parser.parse_args()
    try:
        samples = inference(args.export_dir, args.images, args.backend, args.out_dir, args.threads)
    except DeployError as e:
        sys.exit(f'[infer] error: {e}')
    print(f'[infer] {len(samples)} image(s) on {args.backend}' + (f' -> {args.out_dir}' if args.out_dir else ''))


if __name__ == '__main__':
    main()
