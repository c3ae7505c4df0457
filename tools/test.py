"""Evaluate a checkpoint of any mmconvnext config (segmentation, detection, classification).

    python tools/test.py CONFIG CHECKPOINT [--backend pytorch|onnxruntime|openvino] [--work-dir DIR]
                         [--show-dir DIR [--show-interval N]] [--out FILE.pkl | --out DIR] [--tta]
                         [--metrics-json FILE] [--data-root DIR [--classes NAME ... | --classes-file FILE]]
                         [--cfg-options k=v ...]
    tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [same options]

--show-dir      draws predictions over the images through the config's visualization hook
                (segmentation: DIR/vis_data/vis_image/*.png; detection: DIR/*.png)
--out           FILE.pkl: every prediction, pickled (mmengine's DumpResults);
                DIR: segmentation label maps as PNG, through the metric's own output_dir
--tta           the config's test-time augmentation (tta_model + tta_pipeline), e.g. the
                multi-scale + flip test of the segmentation configs
--backend       onnxruntime / openvino: CHECKPOINT is a directory tools/deployment/export.py wrote from this
                config; its graphs replace the model's learned parts, and the config's test loop, metrics and
                --show-dir drawings run as for PyTorch (mmconvnext.deploy.attach_backend)
--metrics-json  the final metrics (what the runner's test returns, e.g. {"mIoU": 45.6, ...}) as a
                JSON object, for scripts (tools/demo.py) that would otherwise read them from the log

What each flag does to the config: :func:`mmconvnext.apis.apply_cli_args`.
"""

import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.dist import is_main_process
from mmengine.fileio import dump

from mmconvnext.apis import (
    add_data_args,
    apply_cli_args,
    build_runner,
    distributed_teardown,
    load_config,
    setup_cpu_distributed,
)
from mmconvnext.checkpoint import CheckpointError


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint with an mmconvnext config')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL); with --backend, the export directory')
    parser.add_argument(
        '--backend',
        choices=('pytorch', 'onnxruntime', 'openvino'),
        default='pytorch',
        help='run the model in PyTorch (default) or an export of it on onnxruntime / OpenVINO',
    )
    parser.add_argument('--work-dir', help='where the evaluation log goes (default ./work_dirs/<config>)')
    parser.add_argument('--show-dir', help='write prediction overlays (PNG) under this directory')
    parser.add_argument(
        '--show-interval',
        type=int,
        default=1,
        help=(
            "segmentation: draw the images of every N-th test batch, as mmseg's hook counts (default 1: all); "
            "mmdet's hook draws every test image"
        ),
    )
    parser.add_argument('--out', help='FILE.pkl to pickle every prediction, or a directory for label-map PNGs')
    parser.add_argument('--tta', action='store_true', help="test-time augmentation from the config's tta_*")
    parser.add_argument('--metrics-json', metavar='FILE', help='write the final metrics to FILE as a JSON object')
    add_data_args(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    deployed = args.backend != 'pytorch'
    if deployed:
        from mmconvnext.deploy import DeployError, attach_backend, read_export

        try:
            export_dir, _ = read_export(args.checkpoint)
        except DeployError as e:
            raise SystemExit(f'--backend {args.backend}: {e}') from None
        args.checkpoint = None  # nothing for mmengine to load: the graphs carry the weights
    elif '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} not found')
    cfg = load_config(args.config)
    if args.checkpoint and args.checkpoint.endswith('.safetensors'):
        raise SystemExit(
            f'{args.checkpoint}: tools/test.py reads .pth checkpoints; convert this file first with '
            'tools/model_converters/convnext_to_mmconvnext.py SRC DST.pth'
        )
    try:
        apply_cli_args(cfg, args)
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise SystemExit(f'{args.config}: {e.args[0] if e.args else e}') from None
    with distributed_teardown():
        setup_cpu_distributed(cfg)  # gloo for a distributed launcher on a machine without CUDA
        runner = build_runner(cfg)
        if deployed:
            try:
                attach_backend(runner.model, export_dir, args.backend, model_cfg=cfg.model)
            except DeployError as e:
                raise SystemExit(f'--backend {args.backend}: {e}') from None
        try:
            metrics = runner.test()
        except CheckpointError as e:  # the checkpoint does not open (cut short, empty, another kind of file)
            raise SystemExit(str(e)) from None
        if args.metrics_json and is_main_process():
            dump(metrics, args.metrics_json, file_format='json')


if __name__ == '__main__':
    main()
