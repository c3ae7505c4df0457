"""Runs in a subprocess with the peers (timm, mmpretrain) importable; writes their
weights, inputs and outputs (tensors only) for tests/test_parity.py.

    PYTHONPATH=.peers:tools/peers/stub python tests/peers_worker.py OUT.pt
"""

import sys

import torch


def randomize(model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():  # non-trivial values everywhere (gamma, GRN included)
            p.copy_(torch.randn(p.shape, generator=g) * 0.2 + (1.0 if p.dim() == 1 else 0.0))


def decay_groups(backbone_cls, constructor_cls, decay_type: str) -> dict:
    """``{param name: tensor([lr, weight_decay])}`` that ``constructor_cls`` gives a
    ConvNeXt-T ``backbone_cls`` + head model (shared with tests/test_parity.py)."""
    model = torch.nn.Module()
    model.backbone = backbone_cls(
        arch='tiny', out_indices=(0, 1, 2, 3), gap_before_final_norm=False, layer_scale_init_value=1.0
    )
    model.decode_head = torch.nn.Conv2d(768, 5, 1)
    opt = constructor_cls(
        dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05)),
        paramwise_cfg=dict(decay_rate=0.9, decay_type=decay_type, num_layers=6),
    )(model).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    return {
        names[id(p)]: torch.tensor([g['lr'], g['weight_decay']], dtype=torch.float64)
        for g in opt.param_groups
        for p in g['params']
    }


def main(out_path: str) -> None:
    import timm
    from mmpretrain.models.backbones.convnext import ConvNeXt as MMPretrainConvNeXt

    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    cases = {}
    for v2 in (False, True):
        name = 'convnextv2_atto' if v2 else 'convnext_atto'
        for features_only in (True, False):
            m = timm.create_model(
                name, pretrained=False, features_only=features_only, **({} if features_only else {'num_classes': 0})
            )
            randomize(m)
            m.eval()
            with torch.no_grad():
                outs = m(x)
            outs = list(outs) if features_only else [outs]
            cases[f'timm/{name}/{"features" if features_only else "pooled"}'] = {
                'state_dict': m.state_dict(),
                'outputs': outs,
            }
        for output_stride in (16, 8):  # dilated stages (DeepLab-style heads)
            m = timm.create_model(name, pretrained=False, features_only=True, output_stride=output_stride)
            randomize(m)
            m.eval()
            with torch.no_grad():
                outs = list(m(x))
            cases[f'timm/{name}/features_os{output_stride}'] = {'state_dict': m.state_dict(), 'outputs': outs}
        kwargs = dict(arch='atto', use_grn=v2, layer_scale_init_value=0.0 if v2 else 1e-6)
        for dense in (True, False):
            m = MMPretrainConvNeXt(out_indices=(0, 1, 2, 3) if dense else -1, gap_before_final_norm=not dense, **kwargs)
            randomize(m)
            m.eval()
            with torch.no_grad():
                outs = list(m(x))
            cases[f'mmpretrain/{"v2" if v2 else "v1"}/{"dense" if dense else "pooled"}'] = {
                'state_dict': m.state_dict(),
                'outputs': outs,
                'n_params': torch.tensor(sum(p.numel() for p in m.parameters())),
            }

    # mmseg's layer-decay constructor on a model with mmpretrain's ConvNeXt (tiny)
    from mmseg.engine.optimizers import LearningRateDecayOptimizerConstructor

    groups = {
        t: decay_groups(MMPretrainConvNeXt, LearningRateDecayOptimizerConstructor, t)
        for t in ('layer_wise', 'stage_wise')
    }
    torch.save({'input': x, 'cases': cases, 'groups': groups}, out_path)


if __name__ == '__main__':
    main(sys.argv[1])
