"""Check a config's datasets before a long run: every sample read once, every problem named with its file.

    python tools/dataset_check.py CONFIG [--data-root DIR [--classes NAME ... | --classes-file FILE]]
                                  [--show N --out-dir VIS] [--cfg-options k=v ...]

Prints, per split, the image count, the size range and the pixels / instances / images of each class, then
every problem with the file it is in (mmconvnext.apis.dataset_check lists what is checked). Exit code 1 when a
problem would crash or silently corrupt training, 0 otherwise (warnings included). --show N draws N training
samples after the training pipeline (augmentations applied), labels overlaid, into VIS.
"""

import argparse
import sys

from mmengine.config import DictAction

from mmconvnext.apis import add_data_args, apply_cli_args, load_config
from mmconvnext.apis.dataset_check import check_config_data, format_reports, show_samples


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Check a config's datasets for problems before training")
    parser.add_argument('config', help='config file')
    add_data_args(parser)
    parser.add_argument(
        '--show', type=int, default=0, metavar='N', help='draw N training samples as the model sees them'
    )
    parser.add_argument('--out-dir', help='where --show writes its drawings')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    args = parser.parse_args()
    if args.show and not args.out_dir:
        parser.error('--show N needs --out-dir DIR for the drawings')
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config)
    try:
        apply_cli_args(cfg, argparse.Namespace(**vars(args), work_dir=None))
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise SystemExit(f'{args.config}: {e.args[0] if e.args else e}') from None
    reports = check_config_data(cfg)
    print(format_reports(reports))
    errors = sum(p.level == 'error' for r in reports for p in r.problems)
    if args.show:
        if errors:
            print('[dataset_check] --show skipped: the errors above would stop the training pipeline too')
        else:
            written = show_samples(cfg, args.show, args.out_dir)
            print(f'[dataset_check] drew {len(written)} training samples (after the pipeline) in {args.out_dir}')
    sys.exit(1 if errors else 0)


if __name__ == '__main__':
    main()
