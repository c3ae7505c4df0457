"""Parameters and FLOPs of any mmconvnext config's model (segmentation, detection, classification), as the
paper's and the model zoos' tables count them: what ``tools/analysis/get_flops.py`` prints and
``tools/analysis/roadmap.py`` tabulates per step.

FLOPs are counted by mmengine's ``FlopAnalyzer`` (one multiply-add = one FLOP) over the inference forward
(``mode='tensor'``: for a segmentor the backbone and decode head, the auxiliary head is training-only; a
two-stage detector as the paper's table counted it: 1000 proposals through every box head, the first 100
through every mask head). The default shape is the one the paper's tables use: a segmentation config's test
scale (2048x512 for 512 crops, 2560x640 for 640 crops), 1280x800 for detection, 224x224 otherwise.
"""

import inspect
import os.path as osp
from collections.abc import Sequence
from typing import Optional

import torch
from mmengine.config import Config

__all__ = ['DEFAULT_SHAPES', 'default_shape', 'model_complexity']

#: the input shape of the paper's tables by the config's default scope (224x224 for any other)
DEFAULT_SHAPES = {'mmseg': (2048, 512), 'mmdet': (1280, 800)}


def default_shape(cfg: Config, scope: str) -> tuple[int, int]:
    """The test scale of a segmentation config's test pipeline, else the task's convention."""
    if scope == 'mmseg':
        pipeline = cfg.get('test_pipeline') or cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])
        for t in pipeline:
            if t.get('type') == 'Resize' and isinstance(t.get('scale'), (tuple, list)):
                return tuple(t['scale'])
    return DEFAULT_SHAPES.get(scope, (224, 224))


def _data_samples(scope: str, shape: tuple[int, int]) -> Optional[list]:
    meta = dict(img_shape=shape, ori_shape=shape, pad_shape=shape, batch_input_shape=shape, scale_factor=(1.0, 1.0))
    if scope == 'mmseg':
        from mmseg.structures import SegDataSample

        return [SegDataSample(metainfo=meta)]
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample

        return [DetDataSample(metainfo=meta)]
    return None


class _TwoStageDetectorForward(torch.nn.Module):
    """A two-stage detector counted the way the paper's table was (mmdet 2.x
    ``forward_dummy``): backbone, neck and RPN head on the image, then every RoI head
    stage's box branch on 1000 proposals and its mask branch on the first 100. (mmdet
    3.x's ``mode='tensor'`` runs Cascade R-CNN's three mask heads on all proposals.)"""

    num_proposals, num_mask_rois = 1000, 100

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor):
        from mmdet.structures.bbox import bbox2roi

        x = self.model.extract_feat(inputs)
        outs = [self.model.rpn_head(x)]
        h, w = inputs.shape[-2:]
        g = torch.Generator().manual_seed(0)
        xy = torch.rand(self.num_proposals, 2, generator=g) * torch.tensor([w * 0.75, h * 0.75])
        wh = torch.rand(self.num_proposals, 2, generator=g) * torch.tensor([w * 0.25, h * 0.25]) + 8
        rois = bbox2roi([torch.cat([xy, xy + wh], 1)])
        head = self.model.roi_head
        stages = [(s,) for s in range(head.num_stages)] if hasattr(head, 'num_stages') else [()]
        for s in stages:
            outs.append(head._bbox_forward(*s, x, rois)['cls_score'])
        if head.with_mask:
            for s in stages:
                outs.append(head._mask_forward(*s, x, rois[: self.num_mask_rois])['mask_preds'])
        return outs


class _TensorForward(torch.nn.Module):
    """The model's inference forward (``mode='tensor'``) as a one-input module for tracing."""

    def __init__(self, model: torch.nn.Module, data_samples: Optional[list]):
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor):
        head = getattr(self.model, 'decode_head', None)
        if head is not None and 'batch_data_samples' in inspect.signature(head.forward).parameters:
            # mmseg's mask-classification heads (Mask2Former) take the samples, which mode='tensor' leaves out
            return head(self.model.extract_feat(inputs), self.data_samples)
        return self.model(inputs, self.data_samples, mode='tensor')


def model_complexity(
    config: str, shape: Optional[Sequence[int]] = None, params_only: bool = False, cfg_options: Optional[dict] = None
) -> dict[str, object]:
    """``dict(shape, params, inference_params, flops, flops_by_operator)`` for one config file.

    ``params`` counts every parameter of the model, ``inference_params`` only those the counted forward uses.
    ``params_only`` builds the model on the meta device (no memory, no forward), for quick counts of the
    largest models; the last three are then None.
    """
    from mmconvnext.apis import build_model, load_config

    cfg = load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope') or 'mmengine'
    if shape is None:
        shape = default_shape(cfg, scope)
    shape = (shape[0], shape[-1])
    model = build_model(cfg, 'meta' if params_only else 'cpu')
    result = dict(
        shape=shape,
        params=sum(p.numel() for p in model.parameters()),
        inference_params=None,
        flops=None,
        flops_by_operator=None,
    )
    if params_only:
        return result
    from mmengine.analysis import FlopAnalyzer
    from mmengine.model import revert_sync_batchnorm

    model = revert_sync_batchnorm(model).eval()
    counted = (
        _TwoStageDetectorForward(model)
        if hasattr(model, 'roi_head') and hasattr(model, 'rpn_head')
        else _TensorForward(model, _data_samples(scope, shape))
    )
    analyzer = FlopAnalyzer(counted, (torch.zeros(1, 3, *shape),))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        result['flops'] = analyzer.total()
        result['flops_by_operator'] = dict(analyzer.by_operator())
    unused = {name.removeprefix('model.') for name in analyzer.uncalled_modules()}  # e.g. auxiliary heads
    result['inference_params'] = sum(
        p.numel()
        for name, p in model.named_parameters()
        if not any(name == u or name.startswith(u + '.') for u in unused if u)
    )
    return result


def _fmt(value: Optional[float], scale: float, digits: int) -> str:
    return '-' if value is None else f'{value / scale:.{digits}f}'


def _published(metafile: str) -> dict[str, dict]:
    """config basename -> its metafile entry (the published figure a config targets, and where it was published)."""
    import yaml

    with open(metafile, encoding='utf-8') as f:
        entries = yaml.safe_load(f)['Models']
    return {osp.basename(e['Config']): e for e in entries}


def render_flops(results: Sequence[dict], view: Optional[str] = None) -> str:
    """The results-block renderer of kind ``flops`` (``tools/analysis/get_flops.py --results``).

    Default view: config, input, params, inference params, GFLOPs. ``view=zoo``: the model-zoo table of the
    README, each config beside the published figure it targets and its source, from ``configs/metafile.yml``.
    ``view=paper``: the configs whose publication gave params/GFLOPs, beside them. ``VIEW:TEXT`` keeps only the
    configs whose file name contains TEXT.
    """
    from mmconvnext.analysis.results import captions, markdown_table

    view, _, match = (view or '').partition(':')
    configs = [c for r in results for c in r['configs'] if match in osp.basename(c['config'])]
    if view == 'paper':
        root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        published = _published(osp.join(root, 'configs', 'metafile.yml'))
        columns = ['config', 'input', 'params (M)', 'paper', 'GFLOPs', 'paper', 'GFLOPs vs paper']
        rows = []
        for c in configs:
            entry = published.get(osp.basename(c['config']), {})
            if 'Paper GFLOPs' not in entry or c['flops'] is None:
                continue
            paper_params, paper_gflops = entry.get('Paper params (M)', '-'), entry['Paper GFLOPs']
            rows.append(
                [
                    f'`{osp.basename(c["config"])}`',
                    f'{c["shape"][0]}x{c["shape"][1]}',
                    _fmt(c['params'], 1e6, 2),
                    str(paper_params),
                    _fmt(c['flops'], 1e9, 1),
                    str(paper_gflops),
                    f'{c["flops"] / 1e9 / paper_gflops - 1:+.1%}',
                ]
            )
    elif view == 'zoo':
        root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        published = _published(osp.join(root, 'configs', 'metafile.yml'))
        order = {name: i for i, name in enumerate(published)}
        configs = sorted(configs, key=lambda c: order.get(osp.basename(c['config']), len(order)))
        columns = ['config', 'task', 'weights', 'params (M)', 'GFLOPs (input)', 'published', 'source']
        rows = []
        for c in configs:
            name = osp.basename(c['config'])
            entry = published.get(name, {})
            h, w = c['shape']
            rows.append(
                [
                    f'[`{name}`]({c["config"]})',
                    entry.get('Task', '-'),
                    entry.get('Weights', '-'),
                    _fmt(c['params'], 1e6, 2),
                    f'{_fmt(c["flops"], 1e9, 1)} ({h}x{w})',
                    entry.get('Published', '-'),
                    entry.get('Source', '-'),
                ]
            )
    else:
        columns = ['config', 'input', 'params (M)', 'inference params (M)', 'GFLOPs']
        rows = [
            [
                f'`{osp.basename(c["config"])}`',
                f'{c["shape"][0]}x{c["shape"][1]}',
                _fmt(c['params'], 1e6, 2),
                _fmt(c['inference_params'], 1e6, 2),
                _fmt(c['flops'], 1e9, 1),
            ]
            for c in configs
        ]
    return '\n'.join(markdown_table(columns, rows) + [''] + captions(results)) + '\n'
