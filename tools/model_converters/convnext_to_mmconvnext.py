"""Convert an official / timm / mmpretrain ConvNeXt(-V2) checkpoint to mmconvnext's layout,
or export the weights of an mmconvnext trainer checkpoint.

    python tools/model_converters/convnext_to_mmconvnext.py SRC DST [--format auto]
                                                            [--backbone-only] [--ema]

SRC is a path or URL (``.pth``/``.pt``/``.bin``/``.safetensors``); it is read without
executing code (``weights_only``). Its format is detected (``--format`` overrides it):
official classifiers and detectors, official V2 FCMAE pre-training (``*_fcmae.pt``: the
sparse encoder is densified, the decoder dropped), timm, mmpretrain/mmconvnext, mmpretrain
SparK pre-training (decoder dropped). DST gets ``{'state_dict': ..., 'meta': ...}`` with
``backbone.`` keys (and ``head.fc`` unless ``--backbone-only``), written atomically.
``--ema`` takes the exponential moving average of the weights instead of the raw ones
(mmengine's EMAHook keeps both in its checkpoints, the official trainer as
``model_ema``). Configs can also load SRC directly: ``init_cfg=dict(type='Pretrained', checkpoint=SRC)``
runs the same conversion.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

from mmconvnext.checkpoint import (
    BACKBONE,
    FORMATS,
    CheckpointError,
    convert_to_mmconvnext,
    read_checkpoint,
    select_weights,
)
from mmconvnext.version import __version__


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='checkpoint path or URL')
    parser.add_argument('dst', help='output .pth path')
    parser.add_argument(
        '--format', default='auto', choices=['auto', *FORMATS], help='source format (default: detected from key names)'
    )
    parser.add_argument('--backbone-only', action='store_true', help='drop everything outside backbone.')
    parser.add_argument('--ema', action='store_true', help='export the EMA weights (default: the raw weights)')
    args = parser.parse_args(argv)
    if os.path.exists(args.src) and os.path.abspath(args.src) == os.path.abspath(args.dst):
        parser.error(f'refusing to overwrite the input {args.src}; choose another DST')
    try:
        state = select_weights(read_checkpoint(args.src), 'ema' if args.ema else 'raw', args.src)
        converted, fmt = convert_to_mmconvnext(state, args.src, None if args.format == 'auto' else args.format)
    except CheckpointError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if args.backbone_only:
        converted = {k: v for k, v in converted.items() if k.startswith(BACKBONE)}
    meta = {
        'source': str(args.src),
        'source_format': fmt,
        'weights': 'ema' if args.ema else 'raw',
        'mmconvnext_version': __version__,
    }
    dst = Path(args.dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # write next to DST, then rename: an interrupted run never leaves a truncated file
    with tempfile.NamedTemporaryFile(dir=dst.parent, suffix='.tmp', delete=False) as tmp:
        torch.save({'state_dict': converted, 'meta': meta}, tmp)
    os.replace(tmp.name, dst)
    n_backbone = sum(k.startswith(BACKBONE) for k in converted)
    print(f'{args.src} ({fmt} format) -> {dst}: {n_backbone} backbone tensors, {len(converted) - n_backbone} others')
    return 0


if __name__ == '__main__':
    sys.exit(main())
