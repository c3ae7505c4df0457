"""Train any mmconvnext config (segmentation, detection, classification) with mmengine.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp [--amp-dtype D]] [--auto-scale-lr]
                                 [--data-root DIR [--classes NAME ... | --classes-file FILE] [--reduce-zero-label]]
                                 [--pretrained CKPT] [--max-iters N] [--cfg-options k=v ...]
    tools/dist_train.sh CONFIG NUM_PROCS [same options]    # torchrun, multi-process/node
    tools/slurm_train.sh PARTITION JOB CONFIG [same options]

--data-root     the dataset: the task's standard layout or the own-data layout of docs/custom_data.md; with
                the classes (given, or read from the data) every dataset, evaluator and head follows it

What each flag does to the config: :func:`mmconvnext.apis.apply_cli_args`.
"""

import argparse
import os

from mmengine.config import DictAction

from mmconvnext.apis import (
    add_data_args,
    apply_cli_args,
    build_runner,
    distributed_teardown,
    load_config,
    setup_cpu_distributed,
    watch_ranks,
)
from mmconvnext.checkpoint import CheckpointError
from mmconvnext.engine import ResumeError


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model from an mmconvnext config')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default ./work_dirs/<config>)')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        help='resume from CKPT, or from the latest checkpoint of the work dir when given alone',
    )
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision: fp16 with dynamic loss scaling on a GPU, bf16 autocast on a CPU',
    )
    parser.add_argument(
        '--amp-dtype',
        choices=['float16', 'bfloat16'],
        help='the --amp dtype (default float16 on a GPU; a CPU trains in bfloat16 only)',
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help="scale lr by actual batch / the config's auto_scale_lr.base_batch_size",
    )
    add_data_args(parser)
    parser.add_argument(
        '--pretrained',
        metavar='CKPT',
        help='initialise the backbone from CKPT (path or URL; ours, official, timm, mmpretrain or FCMAE format)',
    )
    parser.add_argument(
        '--max-iters',
        type=int,
        metavar='N',
        help='shorten an iteration-based schedule to N iterations (warm-up, decay, validation, '
        'checkpoint and log intervals with it)',
    )
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override config entries, e.g. train_cfg.max_iters=100'
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config)
    try:
        apply_cli_args(cfg, args)
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise SystemExit(f'{args.config}: {e.args[0] if e.args else e}') from None
    with distributed_teardown():
        setup_cpu_distributed(cfg)  # gloo for a distributed launcher on a machine without CUDA
        try:
            runner = build_runner(cfg)
        except ResumeError as e:  # --resume of a file that is not a checkpoint
            raise SystemExit(str(e)) from None
        with watch_ranks():  # a rank that dies is named by the others
            try:
                runner.train()
            except CheckpointError as e:  # load_from or a pretrained init_cfg that does not load: named
                raise SystemExit(str(e)) from None


if __name__ == '__main__':
    main()
