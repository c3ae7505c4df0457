"""Every edit the tools' command-line flags make to a config, in one place.

``tools/train.py`` and ``tools/test.py`` (and the shell scripts that call them) parse their flags and hand the
namespace to :func:`apply_cli_args`; nothing else in the project edits a loaded config on the command line's
behalf, so what a flag does is read here.
"""

import argparse
import difflib
import inspect
import os.path as osp
from typing import Optional

from mmengine.config import Config, ConfigDict
from mmengine.registry import HOOKS, METRICS, Registry

from .config import enable_amp, set_pretrained, shorten_schedule
from .cpu_dist import use_cpu_distributed
from .custom_data import read_classes_file, use_custom_data

__all__ = [
    'add_data_args',
    'add_output',
    'apply_cli_args',
    'enable_tta',
    'enable_visualization',
    'evaluate_checkpoint',
    'merge_cfg_options',
]


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """The flags that point a config at a dataset (``tools/train.py``, ``tools/test.py``,
    ``tools/dataset_check.py``); :func:`apply_cli_args` applies them."""
    parser.add_argument(
        '--data-root',
        help="the dataset's root directory: the task's standard layout (ADE20K, COCO, ImageNet) or the own-data "
        'layout of docs/custom_data.md; every dataset, evaluator and head follows it',
    )
    names = parser.add_mutually_exclusive_group()
    names.add_argument(
        '--classes',
        nargs='+',
        metavar='NAME',
        help='the class names in label order (default: from the COCO json, the class folders, or DIR/classes.txt)',
    )
    names.add_argument('--classes-file', metavar='FILE', help='the class names, one a line')
    parser.add_argument(
        '--reduce-zero-label',
        action='store_true',
        help='own segmentation data: label 0 means unlabelled and value v is class v-1 (as in ADE20K)',
    )


def apply_cli_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the flags of ``args`` to ``cfg`` (in place; also returned), in this order.

    ``--launcher``, ``--cfg-options``, ``--data-root`` with ``--classes`` / ``--classes-file`` /
    ``--reduce-zero-label`` (:func:`mmconvnext.apis.use_custom_data`), ``--work-dir`` (default
    ``./work_dirs/<config name>``, as in mmdet/mmseg); training: ``--pretrained``, ``--max-iters``, ``--amp`` /
    ``--amp-dtype``, ``--auto-scale-lr``, ``--resume``; testing: ``checkpoint``, ``--show-dir`` /
    ``--show-interval``, ``--out``, ``--tta``; then the CPU distributed edits
    (:func:`mmconvnext.apis.use_cpu_distributed`) for a distributed launcher without CUDA. A flag missing from
    ``args`` (the other tool's) or left at its default changes nothing.

    Raises:
        KeyError, ValueError: a flag the config cannot take; the message names the flag and what is missing.
    """

    def opt(name: str) -> object:
        return getattr(args, name, None)

    cfg.launcher = opt('launcher') or 'none'
    if opt('cfg_options'):
        merge_cfg_options(cfg, args.cfg_options)
    classes = opt('classes')
    if opt('classes_file'):
        if classes:
            raise ValueError('--classes and --classes-file both give the class names: give one of them')
        classes = read_classes_file(args.classes_file)
    if opt('data_root') is not None:
        zero = True if opt('reduce_zero_label') else None
        done = use_custom_data(cfg, args.data_root, classes, zero)
        if done['classes'] is not None:
            from mmengine.logging import print_log

            layout = done['layout'] or "the config's"
            print_log(
                f'--data-root {args.data_root} ({done["task"]}, {layout} layout): '
                f'{len(done["classes"])} classes {tuple(done["classes"])}; set {", ".join(done["num_classes_set"])}',
                logger='current',
            )
    elif classes or opt('reduce_zero_label'):
        raise ValueError('--classes, --classes-file and --reduce-zero-label describe the data of --data-root: give it')
    cfg.work_dir = (
        opt('work_dir') or cfg.get('work_dir') or osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    )
    if opt('pretrained'):
        set_pretrained(cfg, args.pretrained)
    if opt('max_iters') is not None:
        shorten_schedule(cfg, args.max_iters)
    if opt('amp_dtype') and not opt('amp'):
        raise ValueError('--amp-dtype is the dtype of --amp: give --amp too')
    if opt('amp'):
        from mmengine.device import get_device

        enable_amp(cfg, get_device(), opt('amp_dtype'))
    if opt('auto_scale_lr'):
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...)')
        cfg.auto_scale_lr.enable = True
    if opt('resume') == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif opt('resume') is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if opt('checkpoint'):
        evaluate_checkpoint(cfg, args.checkpoint)
    if opt('show_dir'):
        enable_visualization(cfg, args.show_dir, getattr(args, 'show_interval', 1))
    if opt('out'):
        add_output(cfg, args.out)
    if opt('tta'):
        enable_tta(cfg)
    use_cpu_distributed(cfg)
    return cfg


def evaluate_checkpoint(cfg: Config, checkpoint: str) -> None:
    """``tools/test.py CONFIG CHECKPOINT``: load ``checkpoint`` (not resume from it), without the EMA hook.

    mmengine's ``EMAHook`` saves the averaged weights as the checkpoint's ``state_dict``, so the test evaluates
    them without the hook; the hook would also require a ``state_dict`` key, which official/timm checkpoints
    (evaluated here too) do not have.
    """
    cfg.load_from, cfg.resume = checkpoint, False
    hooks = cfg.get('custom_hooks') or []
    cfg.custom_hooks = [h for h in hooks if h.get('type') not in ('EMAHook', 'mmengine.EMAHook')]


def _lookup(registry: Registry, cfg: Config, type_name: str) -> Optional[type]:
    """``type_name`` as the config's default scope resolves it."""
    with registry.switch_scope_and_registry(cfg.get('default_scope')) as scoped:
        return scoped.get(type_name)


def enable_visualization(cfg: Config, show_dir: str, interval: int) -> None:
    """``--show-dir``: turn on the config's visualization hook and send its drawings to ``show_dir``.

    Raises:
        KeyError: the config has no visualization hook, or its type is not registered.
    """
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
    """``--out``: ``FILE.pkl`` pickles every prediction (mmengine's ``DumpResults``); a directory receives
    the files of every test metric that writes some (its ``output_dir``: segmentation label maps).

    Raises:
        ValueError: a directory, and no test metric writes files.
    """
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
            raise ValueError(
                f'--out {out!r}: none of the test metrics ({[e.type for e in evaluators]}) writes files '
                'to a directory; give a .pkl file to pickle the predictions instead'
            )
    cfg.test_evaluator = evaluators


def enable_tta(cfg: Config) -> None:
    """``--tta``: the config's test-time augmentation (its ``tta_model`` wrapping the model, its
    ``tta_pipeline`` as the test pipeline).

    Raises:
        KeyError: the config defines no ``tta_model`` or ``tta_pipeline``.
    """
    missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
    if missing:
        raise KeyError(f'--tta: the config defines no {" / ".join(missing)}')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def merge_cfg_options(cfg: Config, options: dict) -> Config:
    """``--cfg-options`` merged into ``cfg``, a key misspelled beside a real one refused first (every tool's
    ``--cfg-options`` goes through here)."""
    for key in options:
        _refuse_misspelled_key(cfg, key)
    cfg.merge_from_dict(options)
    return cfg


def _refuse_misspelled_key(cfg: Config, dotted: str) -> None:
    """A ``KeyError`` for a ``--cfg-options`` key one of whose parts is missing from the config while a key
    of nearly the same name is there (``optim_wraper`` beside ``optim_wrapper``): mmengine would add the
    misspelled key, nothing would read it, and the run would train with the setting unchanged. A part that
    resembles nothing there is a new key, as mmengine allows."""
    node, parts = cfg, dotted.split('.')
    for i, part in enumerate(parts):
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, (dict, Config)) and part in node:
            node = node[part]
        else:
            close = []
            if isinstance(node, (dict, Config)) and not part.startswith('_'):
                names = [k for k in node.keys() if isinstance(k, str)]
                close = difflib.get_close_matches(part, names, n=1, cutoff=0.8)
            if close:
                where = '.'.join(parts[:i]) or 'the config'
                raise KeyError(
                    f'--cfg-options {dotted}: {where} has no key {part!r}; did you mean '
                    f'{".".join(parts[:i] + close)!r}?'
                )
            return


def add_analysis_args(parser: argparse.ArgumentParser, images_help: str, images_required: bool = False) -> None:
    """The arguments the per-model analysis tools (ERF, CAM) share: a config and an optional checkpoint (the
    untrained model without), ``--images``, ``--out-dir``, ``--size H [W]``, ``--cfg-options``."""
    from mmengine.config import DictAction

    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint to load (default: the untrained model)')
    parser.add_argument('--images', nargs='+', required=images_required, help=images_help)
    parser.add_argument('--out-dir', help='where the files go (default work_dirs/<tool>/<config name>)')
    parser.add_argument('--size', type=int, nargs='+', help='input H [W]')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')


def check_analysis_args(parser: argparse.ArgumentParser, args: argparse.Namespace, positive: tuple = ()) -> None:
    """Refuse, through ``parser.error``, a ``--size`` list that is not H or H W (positive) and any of the options
    ``positive`` (attribute names) below 1."""
    size = getattr(args, 'size', None)
    if isinstance(size, list) and (len(size) not in (1, 2) or min(size) < 1):
        parser.error(f'--size takes H or H W (positive), got {args.size}')
    for name in positive:
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')


def analysis_setup(args: argparse.Namespace, tool: str) -> tuple[Config, str, str]:
    """``(config, its name, the output directory)`` of an analysis tool's run: the config loaded with its
    ``--cfg-options``, the output directory (``--out-dir``, default ``work_dirs/<tool>/<config name>``) created."""
    import os

    from .config import load_config

    cfg = load_config(args.config)
    if args.cfg_options:
        merge_cfg_options(cfg, args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    out_dir = args.out_dir or osp.join('work_dirs', tool, name)
    os.makedirs(out_dir, exist_ok=True)
    return cfg, name, out_dir
