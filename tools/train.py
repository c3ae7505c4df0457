"""Train any mmconvnext config (segmentation, detection, classification) with mmengine.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp [--amp-dtype D]] [--auto-scale-lr]
                                 [--data-root DIR] [--cfg-options k=v ...]
    tools/dist_train.sh CONFIG NUM_PROCS [same options]    # torchrun, multi-process/node
    tools/slurm_train.sh PARTITION JOB CONFIG [same options]
"""
import argparse
import os

from mmengine.config import DictAction
from mmengine.device import get_device

from mmconvnext.engine import build_runner, distributed_teardown, enable_amp, load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model from an mmconvnext config')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default ./work_dirs/<config>)')
    parser.add_argument(
        '--resume', nargs='?', const='auto', default=None,
        help='resume from CKPT, or from the latest checkpoint of the work dir when given alone',
    )
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 with dynamic loss scaling on a GPU, bf16 autocast on a CPU')
    parser.add_argument('--amp-dtype', choices=['float16', 'bfloat16'],
                        help='the --amp dtype (default float16 on a GPU; a CPU trains in bfloat16 only)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help="scale lr by actual batch / the config's auto_scale_lr.base_batch_size")
    parser.add_argument('--data-root', help="the dataset's root directory (every dataloader of the config)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, cfg_options=args.cfg_options, launcher=args.launcher, work_dir=args.work_dir,
                      data_root=args.data_root)
    if args.amp_dtype and not args.amp:
        raise SystemExit('--amp-dtype is the dtype of --amp: give --amp too')
    if args.amp:
        try:
            enable_amp(cfg, get_device(), args.amp_dtype)
        except (KeyError, ValueError) as e:
            raise SystemExit(f'{args.config}: {e}') from None
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError(f"{args.config}: --auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...)")
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    with distributed_teardown():
        build_runner(cfg).train()


if __name__ == '__main__':
    main()
