"""What each export keeps of a trained model's accuracy: PyTorch against onnxruntime and OpenVINO in fp32, int8
and (detectors) one graph, each through the config's own test loop and metrics.

    python tools/deployment/accuracy.py CONFIG CHECKPOINT [--calib N] [--no-int8] [--work-dir DIR]
                                        [--name NAME] [--cfg-options k=v ...] [--results FILE]

One row per metric (top-1, mIoU, box and mask mAP, in points) with each path's difference to PyTorch;
``--results FILE`` writes the table with the command, machine, versions, date and commit
(:mod:`mmconvnext.analysis.results`), which ``tools/analysis/render_results.py`` renders into
docs/deployment.md. Speed is ``tools/deployment/speed.py``'s.
"""

import argparse
import os.path as osp
import sys
import tempfile

import torch
from mmengine.config import DictAction

from mmconvnext.analysis.results import markdown_table, results_meta, table_results, tool_command
from mmconvnext.apis import load_config
from mmconvnext.deploy import DeployError
from mmconvnext.deploy.accuracy import PATHS, accuracy_rows


def main() -> None:
    parser = argparse.ArgumentParser(description='Accuracy of each export against PyTorch, on the config test set')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--calib', type=int, default=64, help='int8 calibration images (default 64)')
    parser.add_argument('--no-int8', action='store_true', help='fp32 exports only')
    parser.add_argument('--work-dir', help='exports and test logs (default: a temporary directory)')
    parser.add_argument('--name', help="the model's name in the table (default: the config's file name)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    parser.add_argument('--results', metavar='FILE', help='write the table to this results file (JSON)')
    args = parser.parse_args()
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            task, found = accuracy_rows(cfg, args.checkpoint, args.work_dir or tmp, not args.no_int8, args.calib)
        except DeployError as e:
            sys.exit(f'[accuracy] error: {e}')
    name = args.name or osp.basename(args.config).removesuffix('.py')
    cells = []
    for metric in found['pytorch']:
        scale = 100.0 if metric.startswith('coco/') else 1.0  # mmdet reports 0-1, mmpretrain/mmseg points
        base = found['pytorch'][metric] * scale
        row = [f'`{name}`', metric, f'{base:.2f}']
        for path in PATHS[1:]:
            got = found.get(path, '-')
            if isinstance(got, dict):
                value = got[metric] * scale
                got = f'{value:.2f} ({value - base:+.2f})'
            row.append(got)
        cells.append(row)
    columns = ['model', 'metric (points)', *PATHS]
    print(f'[accuracy] {task}; {torch.get_num_threads()} threads')
    print('\n'.join(markdown_table(columns, cells)))
    if args.results:
        meta = results_meta(tool_command('tools/deployment/accuracy.py'), torch.get_num_threads())
        table_results(args.results, meta, columns, cells, measured=found, task=task)


if __name__ == '__main__':
    main()
