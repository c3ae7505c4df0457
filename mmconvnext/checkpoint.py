"""ConvNeXt checkpoint formats: detection, conversion, safe reading, loading.

The project's own layout is mmpretrain's (``backbone.`` + ``downsample_layers`` /
``stages.i.j.{depthwise_conv,norm,pointwise_conv1,pointwise_conv2,grn,gamma}`` /
``norm{i}``, classifier ``head.fc``). Each foreign format has one pure function that
maps a flat state dict to that layout; loading (``init_cfg`` Pretrained) and
``tools/model_converters/convnext_to_mmconvnext.py`` both go through
:func:`convert_to_mmconvnext`.

Formats (see docs/references.md §2):
    official   facebookresearch/ConvNeXt(-V2): ``dwconv``, ``pwconv1/2``, head LN ``norm``
               and ``head``; V2 ``grn.gamma/beta`` shaped (1, 1, 1, C). Their detection /
               segmentation checkpoints use the same names under ``backbone.``.
    fcmae      facebookresearch/ConvNeXt-V2 FCMAE pre-training (``*_fcmae.pt``): the sparse
               encoder under ``encoder.`` (MinkowskiEngine ``kernel`` tensors, ``.ln.`` /
               ``.linear.`` wrappers, (1, C) biases and GRN parameters) beside the decoder
               (``proj``, ``mask_token``, ``decoder``, ``pred``), which is dropped.
    timm       ``stem.0/1``, ``stages.i.downsample.0/1``, ``stages.i.blocks.j.{conv_dw,
               norm,mlp.fc1,mlp.fc2,mlp.grn,gamma}``, ``head.norm``, ``head.fc``.
    mmpretrain mmpretrain / OpenMMLab downstream checkpoints and mmconvnext's own (V2:
               ``grn.gamma/beta`` shaped (C,), as here).
    spark      mmpretrain SparK pre-training of a ``SparseConvNeXt``: mmpretrain's backbone
               names beside the decoder (``neck``, ``enc_dec_norms``, ``enc_dec_projectors``,
               ``mask_tokens``), which is dropped.
    fcmae-mmconvnext  this toolkit's FCMAE pre-training (``mmconvnext.FCMAE``): the encoder
               is the backbone (``backbone.``), beside the official decoder names, dropped.

The pre-training formats' encoders have no output norms (``norm{i}``): a backbone loaded
from one keeps those layers' initialisation, and says so.

Files are read with ``torch.load(weights_only=True)`` (or safetensors): a pickle that
would run code is refused, never executed.
"""

import logging
import math
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Callable, Mapping, Optional

import torch
from mmengine.logging import MMLogger, print_log

from mmconvnext.serialization import safe_loading

__all__ = [
    'CheckpointError',
    'FORMATS',
    'PRETRAINING_ONLY',
    'convert_fcmae',
    'convert_fcmae_mmconvnext',
    'convert_official',
    'convert_timm',
    'convert_mmpretrain',
    'convert_spark',
    'convert_to_mmconvnext',
    'detect_format',
    'extract_state_dict',
    'load_pretrained',
    'read_checkpoint',
    'backbone_state_dict',
    'select_weights',
]

StateDict = dict[str, torch.Tensor]
BACKBONE = 'backbone.'


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, recognised or loaded; the message names it."""


# ---------------------------------------------------------------------------- reading
def read_checkpoint(filename: str, map_location: str = 'cpu') -> Mapping:
    """Read a checkpoint without executing code from it.

    ``.safetensors`` files go through safetensors; everything else through mmengine's
    ``CheckpointLoader`` (local paths, ``http(s)://``, ``open-mmlab://`` ...), which
    calls ``torch.load`` with its ``weights_only=True`` default, inside
    :func:`mmconvnext.serialization.safe_loading` (mmengine's own objects allow-listed for this load only).
    """
    filename = str(filename)
    if filename.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError as e:  # pragma: no cover - safetensors is a requirement
            raise CheckpointError(f'{filename}: reading .safetensors needs `pip install safetensors`') from e
        try:
            return load_file(filename, device=str(map_location))
        except FileNotFoundError as e:
            raise CheckpointError(f'{filename}: checkpoint file not found') from e
        except Exception as e:  # safetensors' SafetensorError: a truncated or foreign file
            raise CheckpointError(f'{filename}: not a readable checkpoint ({_unreadable(filename, e)})') from e
    from mmengine.runner.checkpoint import CheckpointLoader

    try:
        with safe_loading():
            return CheckpointLoader.load_checkpoint(filename, map_location=map_location)
    except pickle.UnpicklingError as e:
        message = str(e)
        lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
        noise = ('Weights only load failed', 'Please file', 'Check the documentation', '(1)', '(2)', 'WeightsUnpickler')
        detail = next((ln for ln in lines if not ln.startswith(noise)), lines[0] if lines else '')
        if any(m in message for m in ('Unsupported operand', 'invalid load key', 'truncated', 'EOF')):
            raise CheckpointError(
                f'{filename}: not a readable checkpoint (corrupt or not a torch/pickle file): {detail}'
            ) from e
        raise CheckpointError(
            f'{filename}: refused to load: the file asks to build objects that are not plain '
            f'tensors/containers or allow-listed mmengine state, so it could run code when '
            f'unpickled ({detail}). Load it with weights_only=False only if you trust its '
            f'origin, and convert it once.'
        ) from e
    except FileNotFoundError as e:
        raise CheckpointError(f'{filename}: checkpoint file not found') from e
    except (RuntimeError, EOFError, KeyError, ValueError, UnicodeDecodeError) as e:
        # torch's errors for a truncated or foreign file name neither the file nor the cause: a zip
        # archive cut short ("failed finding central directory"), an empty file (a bare EOFError), a
        # text file (a KeyError of its first byte)
        raise CheckpointError(
            f'{filename}: not a readable checkpoint (corrupt, truncated or not a torch/pickle file): '
            f'{_unreadable(filename, e)}'
        ) from e


def _unreadable(filename: str, error: BaseException) -> str:
    """What went wrong reading ``filename``, in one line: ``the file is empty``, or the error's first line."""
    if osp.isfile(filename) and osp.getsize(filename) == 0:
        return 'the file is empty'
    first = str(error).strip().splitlines()[0] if str(error).strip() else ''
    if len(first) > 120 and '. ' in first:  # torch appends advice sentences to its first one
        first = first[: first.index('. ') + 1]
    return f'{type(error).__name__}: {first}' if first else type(error).__name__


def extract_state_dict(checkpoint: Mapping, filename: str = '<checkpoint>') -> StateDict:
    """The flat ``name -> tensor`` dict inside a checkpoint (``state_dict``, ``model`` or
    the mapping itself), without a DistributedDataParallel ``module.`` prefix."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f'{filename}: expected a dict of tensors, got {type(checkpoint).__name__}')
    state = checkpoint
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint.get(key), Mapping):
            state = checkpoint[key]
            break
    state = OrderedDict((k, v) for k, v in state.items() if isinstance(v, torch.Tensor))
    if not state:
        raise CheckpointError(
            f'{filename}: holds no tensors (top-level keys: {list(checkpoint)[:10]}); expected a '
            "state dict, or a dict with 'state_dict' or 'model'"
        )
    if all(k.startswith('module.') for k in state):
        state = OrderedDict((k[len('module.') :], v) for k, v in state.items())
    return state


def select_weights(checkpoint: Mapping, which: str = 'raw', filename: str = '<checkpoint>') -> StateDict:
    """The raw or the EMA weights of a checkpoint, as a flat state dict.

    mmengine's ``EMAHook`` saves the EMA weights as ``state_dict`` and the raw ones as
    ``ema_state_dict`` (``module.``-prefixed, plus a ``steps`` counter); the official
    repository saves ``model`` and ``model_ema``. A checkpoint without EMA weights has
    only raw ones: asking it for ``'ema'`` raises :class:`CheckpointError`.
    """
    if which not in ('raw', 'ema'):
        raise ValueError(f"which must be 'raw' or 'ema', got {which!r}")
    if not isinstance(checkpoint, Mapping):
        return extract_state_dict(checkpoint, filename)  # raises, naming the type
    if isinstance(checkpoint.get('ema_state_dict'), Mapping):  # mmengine EMAHook
        if which == 'ema':
            return extract_state_dict({'state_dict': checkpoint['state_dict']}, filename)
        raw = {k[len('module.') :]: v for k, v in checkpoint['ema_state_dict'].items() if k.startswith('module.')}
        return extract_state_dict(raw, filename)
    if isinstance(checkpoint.get('model_ema'), Mapping):  # the official trainer
        return extract_state_dict(checkpoint['model_ema'] if which == 'ema' else checkpoint['model'], filename)
    if which == 'ema':
        raise CheckpointError(
            f"{filename}: holds no EMA weights (no ema_state_dict from mmengine's EMAHook, no model_ema from "
            f'the official trainer; top-level keys: {list(checkpoint)[:10]})'
        )
    return extract_state_dict(checkpoint, filename)


# ---------------------------------------------------------------------------- formats
_OFFICIAL_BLOCK = re.compile(r'^(backbone\.)?stages\.\d+\.\d+\.(dwconv|pwconv1)\.')
_TIMM_KEY = re.compile(r'^(stem[._]0\.|stages[._]\d+\.blocks\.\d+\.conv_dw\.)')
_MMPRETRAIN_BLOCK = re.compile(r'^(backbone\.)?stages\.\d+\.\d+\.(depthwise_conv|pointwise_conv1)\.')
_BACKBONE_ROOT = re.compile(r'^(downsample_layers|stages|norm\d+)\.')
# a MinkowskiEngine kernel of the FCMAE sparse encoder (with or without its ``encoder.`` prefix)
_FCMAE_KERNEL = re.compile(r'^(encoder\.)?(stages\.\d+\.\d+\.dwconv|downsample_layers\.\d+\.\d+)\.kernel$')
_SPARK_KEY = re.compile(r'^(mask_tokens|enc_dec_norms|enc_dec_projectors)\.')
_ENCODER = 'encoder.'

#: The modules of a pre-training model outside its encoder, per format: the converter drops
#: them, :func:`convert_to_mmconvnext` logs them by name. (pattern, what they are)
PRETRAINING_ONLY: Mapping[str, tuple[re.Pattern, str]] = {
    # facebookresearch/ConvNeXt-V2 models/fcmae.py: FCMAE.{proj, mask_token, decoder, pred}
    'fcmae': (re.compile(r'^(proj\.|mask_token$|decoder\.|pred\.)'), 'FCMAE decoder (proj, mask_token, decoder, pred)'),
    # mmpretrain models/selfsup/spark.py: SparK.{neck, head, enc_dec_norms, enc_dec_projectors, mask_tokens}
    'spark': (
        re.compile(r'^(neck\.|head\.|enc_dec_norms\.|enc_dec_projectors\.|mask_tokens\.)'),
        'SparK decoder (neck, enc_dec_norms, enc_dec_projectors, mask_tokens)',
    ),
    # this toolkit's mmconvnext.FCMAE (configs/fcmae_convnextv2_*): the official names beside backbone.*
    'fcmae-mmconvnext': (
        re.compile(r'^(proj\.|mask_token$|decoder\.|pred\.)'),
        'FCMAE decoder (proj, mask_token, decoder, pred)',
    ),
}


def convert_official(state: StateDict) -> StateDict:
    """facebookresearch/ConvNeXt(-V2) -> mmconvnext. Keys outside a ``backbone.`` prefix
    are a classifier (``norm`` = head LN -> ``norm3``, ``head`` -> ``head.fc``); other
    modules of detection/segmentation checkpoints (neck, heads) pass through."""
    prefixed = any(k.startswith(BACKBONE) for k in state)
    out = OrderedDict()
    for key, value in state.items():
        if prefixed and not key.startswith(BACKBONE):
            out[key] = value
            continue
        name = key[len(BACKBONE) :] if prefixed else key
        if not prefixed and name.startswith('head.'):
            out['head.fc.' + name[len('head.') :]] = value
            continue
        if not prefixed and name.startswith('norm.'):
            name = 'norm3.' + name[len('norm.') :]
        name = re.sub(r'\.dwconv\.', '.depthwise_conv.', name)
        name = re.sub(r'\.pwconv([12])\.', r'.pointwise_conv\1.', name)
        if re.search(r'\.grn\.(gamma|beta)$', name):
            value = value.reshape(-1)  # V2 official: (1, 1, 1, C) -> (C,)
        out[BACKBONE + name] = value
    return out


def convert_timm(state: StateDict) -> StateDict:
    """timm ``convnext_*`` / ``convnextv2_*`` (also ``features_only`` names) -> mmconvnext."""
    stage_ids = [int(m.group(1)) for k in state if (m := re.match(r'^stages[._](\d+)\.', k))]
    last = max(stage_ids, default=3)  # the head LayerNorm becomes the last stage's output norm
    rules: tuple[tuple[str, str], ...] = (
        (r'^stem[._]([01])\.', r'downsample_layers.0.\1.'),
        (r'^stages[._](\d+)\.downsample\.([01])\.', r'downsample_layers.\1.\2.'),
        (r'^stages[._](\d+)\.blocks\.(\d+)\.conv_dw\.', r'stages.\1.\2.depthwise_conv.'),
        (r'^stages[._](\d+)\.blocks\.(\d+)\.mlp\.fc([12])\.', r'stages.\1.\2.pointwise_conv\3.'),
        (r'^stages[._](\d+)\.blocks\.(\d+)\.mlp\.grn\.weight$', r'stages.\1.\2.grn.gamma'),
        (r'^stages[._](\d+)\.blocks\.(\d+)\.mlp\.grn\.bias$', r'stages.\1.\2.grn.beta'),
        (r'^stages[._](\d+)\.blocks\.(\d+)\.', r'stages.\1.\2.'),
        (r'^head\.norm\.', f'norm{last}.'),
    )
    out = OrderedDict()
    for key, value in state.items():
        if key.startswith('head.fc.'):
            out[key] = value
            continue
        for pattern, repl in rules:
            name, matched = re.subn(pattern, repl, key, count=1)
            if matched:
                out[BACKBONE + name] = value
                break
        else:
            out[key] = value  # not a ConvNeXt key (e.g. timm's head.pre_logits): kept, reported
    return out


def convert_mmpretrain(state: StateDict) -> StateDict:
    """mmpretrain / OpenMMLab / mmconvnext -> mmconvnext: adds ``backbone.`` to a
    backbone-only state dict, leaves everything else as it is."""
    if any(k.startswith(BACKBONE) for k in state):
        return OrderedDict(state)
    return OrderedDict(((BACKBONE + k) if _BACKBONE_ROOT.match(k) else k, v) for k, v in state.items())


def convert_spark(state: StateDict) -> StateDict:
    """mmpretrain SparK pre-training (``SparseConvNeXt`` backbone) -> mmconvnext: the
    backbone keeps mmpretrain's names (its sparse convs and LayerNorms are ``nn.Conv2d`` /
    ``nn.LayerNorm`` subclasses); the decoder (:data:`PRETRAINING_ONLY`) is dropped."""
    decoder = PRETRAINING_ONLY['spark'][0]
    return convert_mmpretrain(OrderedDict((k, v) for k, v in state.items() if not decoder.match(k)))


def convert_fcmae_mmconvnext(state: StateDict) -> StateDict:
    """mmconvnext ``FCMAE`` (its encoder is already this backbone, under ``backbone.``) ->
    mmconvnext: the decoder (:data:`PRETRAINING_ONLY`) is dropped."""
    decoder = PRETRAINING_ONLY['fcmae-mmconvnext'][0]
    return convert_mmpretrain(OrderedDict((k, v) for k, v in state.items() if not decoder.match(k)))


def _dense_conv_weight(key: str, kernel: torch.Tensor) -> torch.Tensor:
    """A MinkowskiEngine 2-D convolution kernel as an ``nn.Conv2d`` weight, by the rule of
    ``remap_checkpoint_keys`` in facebookresearch/ConvNeXt-V2 ``utils.py``.

    The kernel stacks one matrix per offset of the k x k window: (k*k, in, out) for
    ``MinkowskiConvolution``, (k*k, C) for ``MinkowskiDepthwiseConvolution``. The offset at
    row ``p``, column ``q`` is entry ``q * k + p`` (the row index varies fastest), so
    ``weight[o, i, p, q] = kernel[q * k + p, i, o]`` and, depthwise,
    ``weight[c, 0, p, q] = kernel[q * k + p, c]``.
    """
    k = math.isqrt(kernel.shape[0]) if kernel.dim() in (2, 3) else 0
    if k == 0 or k * k != kernel.shape[0]:
        raise CheckpointError(
            f'{key}: a sparse kernel shaped {tuple(kernel.shape)} is not (k*k, C) or (k*k, in, out) '
            'of a square k x k 2-D kernel'
        )
    if kernel.dim() == 3:  # (k*k, in, out) -> (out, in, k*k) -> (out, in, q, p) -> (out, in, p, q)
        _, c_in, c_out = kernel.shape
        return kernel.permute(2, 1, 0).reshape(c_out, c_in, k, k).transpose(2, 3).contiguous()
    channels = kernel.shape[1]  # depthwise: (k*k, C) -> (C, k*k) -> (C, 1, q, p) -> (C, 1, p, q)
    return kernel.t().reshape(channels, 1, k, k).transpose(2, 3).contiguous()


def convert_fcmae(state: StateDict) -> StateDict:
    """facebookresearch/ConvNeXt-V2 FCMAE pre-training -> mmconvnext.

    The same remapping the official fine-tuning applies (``main_finetune.py`` drops the
    decoder, ``utils.remap_checkpoint_keys`` densifies the encoder), then the official
    names -> mmconvnext's:

    - the decoder (``proj``, ``mask_token``, ``decoder``, ``pred``) is dropped; the
      ``encoder.`` prefix is removed;
    - ``*.kernel`` -> ``*.weight`` as a dense conv weight (:func:`_dense_conv_weight`);
    - ``MinkowskiLayerNorm``'s ``.ln.`` and ``MinkowskiLinear``'s ``.linear.`` are unwrapped
      (``stages.i.j.norm.ln.weight`` -> ``stages.i.j.norm.weight``, ``pwconv1.linear.weight``
      -> ``pwconv1.weight``, ``downsample_layers.i.0.ln.bias`` -> ``downsample_layers.i.0.bias``);
    - Minkowski biases (1, C) -> (C,); GRN ``gamma``/``beta`` (1, C) -> (C,).
    """
    decoder = PRETRAINING_ONLY['fcmae'][0]
    in_encoder = any(k.startswith(_ENCODER) for k in state)
    dense = OrderedDict()
    for key, value in state.items():
        if decoder.match(key):
            continue
        if in_encoder and not key.startswith(_ENCODER):
            dense[key] = value  # not FCMAE's: kept under its name, reported as unexpected
            continue
        name = key[len(_ENCODER) :] if in_encoder else key
        if name.endswith('.kernel'):
            name, value = name[: -len('kernel')] + 'weight', _dense_conv_weight(key, value)
        name = re.sub(r'\.(ln|linear)\.(weight|bias)$', r'.\2', name)
        if name.endswith('.bias') and value.dim() != 1:
            value = value.reshape(-1)
        dense[name] = value
    return convert_official(dense)  # also reshapes GRN parameters to (C,)


FORMATS: Mapping[str, Callable[[StateDict], StateDict]] = {
    'official': convert_official,
    'fcmae': convert_fcmae,
    'timm': convert_timm,
    'mmpretrain': convert_mmpretrain,
    'spark': convert_spark,
    'fcmae-mmconvnext': convert_fcmae_mmconvnext,
}


def detect_format(state: Mapping[str, torch.Tensor], filename: str = '<checkpoint>') -> str:
    """``'fcmae'``, ``'official'``, ``'timm'``, ``'spark'``, ``'fcmae-mmconvnext'`` or
    ``'mmpretrain'`` from the key names; an error naming a few keys when none fits."""
    keys = list(state)

    def has(pattern: re.Pattern) -> bool:
        return any(pattern.match(k) for k in keys)

    if has(_FCMAE_KERNEL):  # before 'official': the sparse encoder also has ``stages.i.j.dwconv``
        return 'fcmae'
    if has(_OFFICIAL_BLOCK):
        return 'official'
    if has(_TIMM_KEY):
        return 'timm'
    if has(_MMPRETRAIN_BLOCK):
        if has(_SPARK_KEY):
            return 'spark'
        return 'fcmae-mmconvnext' if 'mask_token' in state else 'mmpretrain'
    raise CheckpointError(
        f'{filename}: not a ConvNeXt checkpoint in a known format (official, fcmae, timm, '
        f'mmpretrain/mmconvnext, spark); its first keys are {keys[:8]}'
    )


def convert_to_mmconvnext(
    state: StateDict,
    filename: str = '<checkpoint>',
    fmt: Optional[str] = None,
    logger: Optional[MMLogger] = None,
) -> tuple[StateDict, str]:
    """Convert a flat state dict of any supported format; returns (state, format). The
    pre-training decoder keys a format drops (:data:`PRETRAINING_ONLY`) are logged by name
    and count to ``logger`` (printed when ``None``)."""
    fmt = fmt or detect_format(state, filename)
    if fmt not in FORMATS:
        raise CheckpointError(f'unknown checkpoint format {fmt!r}; choose one of {sorted(FORMATS)}')
    if fmt in PRETRAINING_ONLY:
        pattern, what = PRETRAINING_ONLY[fmt]
        dropped = [k for k in state if pattern.match(k)]
        if dropped:
            print_log(
                f'{filename}: dropped {len(dropped)} keys of the {what}, not part of the backbone: {dropped[:20]}'
                + (f' ... ({len(dropped)} in all)' if len(dropped) > 20 else ''),
                logger=logger,
            )
    return FORMATS[fmt](state), fmt


def backbone_state_dict(state: StateDict) -> StateDict:
    """The ``backbone.`` part of an mmconvnext state dict, without the prefix."""
    return OrderedDict((k[len(BACKBONE) :], v) for k, v in state.items() if k.startswith(BACKBONE))


# ---------------------------------------------------------------------------- loading
def _fit_pointwise(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Linear (O, I) <-> 1x1 conv (O, I, 1, 1) weights, so ``linear_pw_conv`` may differ
    between checkpoint and model; other shapes are returned unchanged."""
    if value.shape != target.shape and value.numel() == target.numel():
        squeezed = [d for d in value.shape if d != 1] == [d for d in target.shape if d != 1]
        if squeezed and {value.dim(), target.dim()} == {2, 4}:
            return value.reshape(target.shape)
    return value


def _version_hint(missing: list[str], unexpected: list[str]) -> str:
    """What to change when a ConvNeXt V2 checkpoint meets a V1 backbone or the reverse
    (GRN layers on one side only); empty otherwise."""
    if any('.grn.' in k for k in unexpected):
        return (
            'the checkpoint is a ConvNeXt V2 (GRN layers, no layer scale): build the backbone with '
            'use_grn=True, layer_scale_init_value=0'
        )
    if any('.grn.' in k for k in missing):
        return 'the checkpoint has no GRN layers (ConvNeXt V1): build the backbone with use_grn=False'
    return ''


def load_pretrained(
    module: torch.nn.Module,
    filename: str,
    prefix: Optional[str] = None,
    map_location: str = 'cpu',
    logger: Optional[MMLogger] = None,
) -> tuple[list[str], list[str]]:
    """Load a ConvNeXt checkpoint of any supported format into a backbone ``module``.

    ``prefix`` selects and strips a part of the file's keys first; ``None`` and
    ``'backbone.'`` both mean "the backbone", whatever the format. Missing and
    unexpected keys are logged by name; shape mismatches (a checkpoint of another arch)
    raise :class:`CheckpointError` naming each key and both shapes.

    Returns:
        (missing keys, unexpected keys). The per-stage output norms a multi-scale
        backbone has beyond a classifier's final norm are logged as new layers, not
        counted as missing, when the checkpoint holds an output norm of its own.
    """
    logger = logger or MMLogger.get_current_instance()
    raw = extract_state_dict(read_checkpoint(filename, map_location), filename)
    if prefix and prefix != BACKBONE:
        selected = OrderedDict((k[len(prefix) :], v) for k, v in raw.items() if k.startswith(prefix))
        if not selected:
            raise CheckpointError(f'{filename}: no key starts with prefix {prefix!r}; first keys: {list(raw)[:8]}')
        raw = selected
    converted, fmt = convert_to_mmconvnext(raw, filename, logger=logger)
    # 'mmpretrain' is also this toolkit's own layout (its classifier checkpoints): say both
    label = 'mmconvnext/mmpretrain' if fmt == 'mmpretrain' else fmt
    state = backbone_state_dict(converted)
    own = module.state_dict()
    mismatched = []
    for key, value in state.items():
        if key in own:
            state[key] = value = _fit_pointwise(value, own[key])
            if value.shape != own[key].shape:
                mismatched.append(f'{key}: checkpoint {tuple(value.shape)} vs model {tuple(own[key].shape)}')
    if mismatched:
        arch = getattr(module, 'depths', None), getattr(module, 'channels', None)
        raise CheckpointError(
            f'{filename} ({label} format) does not fit this {type(module).__name__} '
            f'(depths/channels {arch[0]}/{arch[1]}); is it a checkpoint of another arch? '
            f'{len(mismatched)} shape mismatches: ' + '; '.join(mismatched[:10])
        )
    matched = [k for k in state if k in own]
    if not matched:
        raise CheckpointError(
            f'{filename} ({label} format): no key matches this {type(module).__name__}; '
            f'checkpoint backbone keys start with {list(state)[:5]}, model keys with {list(own)[:5]}'
        )
    missing, unexpected = module.load_state_dict(state, strict=False)
    ignored = sorted(k for k in converted if not k.startswith(BACKBONE))
    print_log(
        f'Loaded {len(matched)}/{len(own)} backbone tensors from {filename} ({label} format)',
        logger=logger,
    )
    # A classifier has one output norm (after its last stage); a multi-scale backbone adds
    # one per extra output stage. Those layers exist in no classification checkpoint, so
    # they are new layers (initialised as identity LayerNorms), not missing weights. A
    # pre-training encoder (FCMAE, SparK) has no output norm at all.
    pretraining = fmt in PRETRAINING_ONLY
    if pretraining or any(re.match(r'norm\d+\.', k) for k in state):
        new_norms = sorted(k for k in missing if re.match(r'norm\d+\.', k))
        if new_norms:
            print_log(
                f'output norms that a pre-training encoder ({fmt} format) does not have (kept their '
                f'initialisation): {new_norms}'
                if pretraining
                else f'output norms new in this multi-scale backbone (a classifier has only its final '
                f'one; kept their initialisation): {new_norms}',
                logger=logger,
            )
            missing = [k for k in missing if k not in new_norms]
    if missing:
        print_log(
            f'missing keys in {filename} (kept their initialisation): {missing}', logger=logger, level=logging.WARNING
        )
    if unexpected:
        print_log(f'unexpected keys in {filename} (ignored): {unexpected}', logger=logger, level=logging.WARNING)
    hint = _version_hint(missing, unexpected)
    if hint:
        print_log(f'{filename}: {hint}', logger=logger, level=logging.WARNING)
    if ignored:
        print_log(
            f'non-backbone keys not loaded into the backbone: {ignored[:20]}'
            + (f' ... ({len(ignored)} in all)' if len(ignored) > 20 else ''),
            logger=logger,
        )
    return list(missing), list(unexpected)
