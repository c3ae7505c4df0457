"""Inference speed of a config's model: PyTorch eager against its export on onnxruntime and OpenVINO, through the
same pre/post-processing (docs/benchmarks.md, "Deployment").

    python tools/deployment/speed.py CONFIG [CONFIG ...] [--shape H W] [--batch N [N ...]] [--rounds R]
                                     [--repeats K] [--threads T] [--int8] [--cfg-options k=v ...] [--results FILE]

One process, one table: a row per config and batch size. Each model is exported once (initial weights: speed
does not depend on their values, except the detectors', whose RoI heads see as many boxes as pass the score
threshold -- the same boxes on every path, since the export matches PyTorch); then each round times every path
(median of --repeats calls after a warm-up) and the table reports each path's median over the rounds, with the
ratio to PyTorch. Classifier: logits;
segmentation: the config's whole/slide inference (``predict``); detection: ``predict`` (boxes and masks). The
PyTorch row runs the project's default CPU path (``onednn_cpu='auto'``: per block shape, the faster of the plain
ops and oneDNN's kernels on this machine). ``--results FILE`` writes the table with the command, machine,
versions, date and commit (:mod:`mmconvnext.analysis.results`). ``--int8`` adds each runtime on the int8 export
(:mod:`mmconvnext.deploy.quantize`: onnxruntime's quantizer for onnxruntime, NNCF for OpenVINO), calibrated
here on random inputs: its speed, not its accuracy (``tools/deployment/accuracy.py`` measures that on
validation data); a detector's int8 is its one-graph export's. A detector also gets the fp32 one-graph export
(``export.py --end2end``) on each runtime, with mmdet's mask paste after it.
"""

import argparse
import copy
import os
import statistics
import sys
import tempfile

import torch
from mmengine.config import DictAction

from mmconvnext.analysis import dummy_batch, median_time
from mmconvnext.analysis.results import markdown_table, results_meta, table_results, tool_command
from mmconvnext.apis import load_config
from mmconvnext.deploy import DeployError, attach_backend, available_backends, export_model, load_model, task_of
from mmconvnext.deploy.accuracy import PATHS
from mmconvnext.device import cpu_name
from mmconvnext.models.layers import path_select


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='PyTorch vs onnxruntime vs OpenVINO inference speed')
    parser.add_argument('configs', nargs='+', metavar='CONFIG')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), help='input size (default: the config)')
    parser.add_argument('--batch', type=int, nargs='+', default=[1], help='batch size(s): a row each')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(), help='threads of every path')
    parser.add_argument('--int8', action='store_true', help='also the int8 export on every runtime')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    parser.add_argument('--results', metavar='FILE', help='write the table to this results file (JSON)')
    return parser.parse_args()


def measure(config: str, args: argparse.Namespace) -> list:
    """The rows of one config: per batch size, each path's img/s over the rounds (``{path: [rates]}`` or
    ``{path: why}`` where a path cannot run), with the task, the input size and the export's versions."""
    cfg = load_config(config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    torch.manual_seed(0)
    model = load_model(cfg, None)
    task = task_of(model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = os.path.join(tmp, 'model.pth')
        torch.save({'state_dict': model.state_dict()}, checkpoint)
        try:
            meta = export_model(cfg, checkpoint, tmp, 'onnx', args.shape)
        except DeployError as e:
            sys.exit(f'[speed] {config}: error: {e}')
        h, w = meta['input_shape'][2:]
        paths = {'pytorch': model}
        for backend in available_backends():
            paths[backend] = attach_backend(copy.deepcopy(model), tmp, backend, args.threads)
        if task == 'detection':  # the one-graph export too: NMS, RoIAlign and decoding in the runtime
            end2end_dir = os.path.join(tmp, 'end2end')
            export_model(cfg, checkpoint, end2end_dir, 'onnx', args.shape, end2end=True)
            for backend in available_backends():
                paths[f'{backend} one graph'] = attach_backend(copy.deepcopy(model), end2end_dir, backend, args.threads)
        skipped = {} if task == 'detection' else {f'{b} one graph': '-' for b in available_backends()}
        if args.int8:
            int8_dir = os.path.join(tmp, 'int8')
            noise = torch.randn(8, 3, h, w, generator=torch.Generator().manual_seed(0)).numpy()
            # a detector is quantized as one graph (export.py --int8 --end2end)
            export_model(
                cfg, checkpoint, int8_dir, 'openvino', (h, w), int8=True, calibration=noise, end2end=task == 'detection'
            )
            for backend in available_backends():
                paths[f'{backend} int8'] = attach_backend(copy.deepcopy(model), int8_dir, backend, args.threads)
        for batch in args.batch:
            if task == 'classification':
                x = torch.randn(batch, 3, h, w)
                calls = {n: (lambda m=m, x=x: m(x, mode='tensor')) for n, m in paths.items()}
            else:
                inputs, samples = dummy_batch('seg' if task == 'segmentation' else 'det', batch, h, w)
                calls = {
                    n: (lambda m=m, i=inputs, d=samples: m(i, copy.deepcopy(d), mode='predict'))
                    for n, m in paths.items()
                }
            path_select.tune_model(model, (batch, 3, h, w), train=False)  # eager: kernels chosen before timing
            rates = {n: [] for n in calls}
            with torch.no_grad():
                for _ in range(args.rounds):
                    for name, call in calls.items():
                        rates[name].append(batch / median_time(call, 1, args.repeats))
            rows.append(dict(config=config, task=task, batch=batch, size=(h, w), rates={**rates, **skipped}))
    return rows, meta['versions']


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    rows, versions = [], {}
    for config in args.configs:
        got, versions = measure(config, args)
        rows += got
    print(f'CPU: {cpu_name()}, {args.threads} threads; torch {torch.__version__}; {versions}')
    print(f'{args.rounds} rounds x {args.repeats} calls; img/s, median of the rounds (x PyTorch)')
    found = list(dict.fromkeys(p for r in rows for p in r['rates']))
    paths = [p for p in PATHS if p in found] + [p for p in found if p not in PATHS]  # every table in one order
    cells = []
    for r in rows:
        model_name = os.path.basename(r['config']).removesuffix('.py')
        base = statistics.median(r['rates']['pytorch'])
        row = [f'`{model_name}`, batch {r["batch"]}, {r["size"][0]}x{r["size"][1]}']
        for p in paths:
            v = r['rates'].get(p, '-')
            row.append(v if isinstance(v, str) else f'{statistics.median(v):.3g} ({statistics.median(v) / base:.2f}x)')
        cells.append(row)
    columns = ['model, input (img/s)', *paths]
    print('\n'.join(markdown_table(columns, cells)))
    if args.results:
        meta = results_meta(tool_command('tools/deployment/speed.py'), args.threads)
        data = [dict(r, size=list(r['size'])) for r in rows]
        table_results(args.results, meta, columns, cells, measured=data, rates=rows[0]['rates'], task=rows[0]['task'])


if __name__ == '__main__':
    main()
