"""Evaluate a checkpoint of any mmconvnext config (segmentation, detection, classification).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR [--show-interval N]]
                         [--out FILE.pkl | --out DIR] [--tta] [--data-root DIR] [--cfg-options k=v ...]
    tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [same options]

--show-dir  draws predictions over the images through the config's visualization hook
            (segmentation: DIR/vis_data/vis_image/*.png; detection: DIR/*.png)
--out       FILE.pkl: every prediction, pickled (mmengine's DumpResults);
            DIR: segmentation label maps as PNG, through the metric's own output_dir
--tta       the config's test-time augmentation (tta_model + tta_pipeline), e.g. the
            multi-scale + flip test of the segmentation configs
"""
import argparse
import inspect
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import HOOKS, METRICS, Registry

from mmconvnext.engine import build_runner, distributed_teardown, load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint with an mmconvnext config')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL)')
    parser.add_argument('--work-dir', help='where the evaluation log goes (default ./work_dirs/<config>)')
    parser.add_argument('--show-dir', help='write prediction overlays (PNG) under this directory')
    parser.add_argument('--show-interval', type=int, default=1, help='draw every N-th test image (default 1)')
    parser.add_argument('--out', help='FILE.pkl to pickle every prediction, or a directory for label-map PNGs')
    parser.add_argument('--tta', action='store_true', help="test-time augmentation from the config's tta_*")
    parser.add_argument('--data-root', help="the dataset's root directory (every dataloader of the config)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _lookup(registry: Registry, cfg: Config, type_name: str) -> Optional[type]:
    """``type_name`` as the config's default scope resolves it."""
    with registry.switch_scope_and_registry(cfg.get('default_scope')) as scoped:
        return scoped.get(type_name)


def enable_visualization(cfg: Config, show_dir: str, interval: int) -> None:
    """Turn on the config's visualization hook and send its drawings to ``show_dir``."""
    hook = cfg.get('default_hooks', {}).get('visualization')
    if not hook:
        raise KeyError("--show-dir: the config has no default_hooks['visualization'] to draw predictions with")
    hook.draw = True
    hook.interval = interval
    hook_cls = _lookup(HOOKS, cfg, hook.type)
    if hook_cls is None:
        raise KeyError(f'--show-dir: visualization hook type {hook.type!r} is not registered')
    if 'test_out_dir' in inspect.signature(hook_cls).parameters:  # mmdet: one image file per test image
        hook.test_out_dir = osp.abspath(show_dir)
    else:  # mmseg: through the visualizer's LocalVisBackend
        cfg.visualizer.save_dir = show_dir


def add_output(cfg: Config, out: str) -> None:
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
    if out.endswith(('.pkl', '.pickle')):
        evaluators.append(ConfigDict(type='DumpResults', out_file_path=out))
    else:
        takers = []
        for ev in evaluators:
            metric_cls = _lookup(METRICS, cfg, ev.type)
            if metric_cls is not None and 'output_dir' in inspect.signature(metric_cls).parameters:
                ev.output_dir, ev.keep_results = out, True
                takers.append(ev.type)
        if not takers:
            raise ValueError(f'--out {out!r}: none of the test metrics ({[e.type for e in evaluators]}) writes files '
                             'to a directory; give a .pkl file to pickle the predictions instead')
    cfg.test_evaluator = evaluators


def enable_tta(cfg: Config) -> None:
    missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
    if missing:
        raise KeyError(f'--tta: the config defines no {" / ".join(missing)}')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def main() -> None:
    args = parse_args()
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} not found')
    cfg = load_config(args.config, cfg_options=args.cfg_options, launcher=args.launcher, work_dir=args.work_dir,
                      data_root=args.data_root)
    if args.checkpoint.endswith('.safetensors'):
        raise SystemExit(f'{args.checkpoint}: tools/test.py reads .pth checkpoints; convert this file first with '
                         'tools/model_converters/convnext_to_mmconvnext.py SRC DST.pth')
    cfg.load_from, cfg.resume = args.checkpoint, False
    # mmengine's EMAHook saves the averaged weights as the checkpoint's state_dict, so the
    # test evaluates them without the hook; the hook would also require a 'state_dict'
    # key, which official/timm checkpoints (evaluated here too) do not have.
    hooks = cfg.get('custom_hooks') or []
    cfg.custom_hooks = [h for h in hooks if h.get('type') not in ('EMAHook', 'mmengine.EMAHook')]
    if args.show_dir:
        enable_visualization(cfg, args.show_dir, args.show_interval)
    if args.out:
        add_output(cfg, args.out)
    if args.tta:
        enable_tta(cfg)
    with distributed_teardown():
        build_runner(cfg).test()


if __name__ == '__main__':
    main()
