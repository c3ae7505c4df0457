"""CPU multi-process pieces: gloo SyncBN against batch norm over the whole batch, the
DDP wrapper's conversion, the slurm environment translation."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from mmconvnext.apis import slurm_to_torch_env
from mmconvnext.engine import CPUSyncBatchNorm, convert_sync_batchnorm_for_cpu

from ..conftest import free_port


def _worker(rank: int, world: int, port: int, x: torch.Tensor, out_dir: str, dtype: torch.dtype) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.manual_seed(0)
    bn = CPUSyncBatchNorm(3, momentum=0.1)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    part = x.chunk(world)[rank].to(dtype).requires_grad_()  # bf16: what --amp feeds the heads' norms
    y = bn(part)
    assert y.dtype == dtype
    (y.float() * torch.arange(y.numel()).view_as(y).sin()).sum().backward()
    for p in bn.parameters():  # what DDP does to parameter grads
        dist.all_reduce(p.grad)
    torch.save(
        dict(
            y=y.detach().float(),
            gx=part.grad.float(),
            gw=bn.weight.grad,
            gb=bn.bias.grad,
            rm=bn.running_mean,
            rv=bn.running_var,
        ),
        os.path.join(out_dir, f'{rank}.pt'),
    )
    dist.destroy_process_group()


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_cpu_sync_bn_equals_batch_norm_over_the_whole_batch(tmp_path, dtype):
    """fp32, and bf16 inputs (statistics reduced in fp32, output in bf16) against an
    fp32 batch norm of the same (bf16-rounded) values."""
    x = (torch.randn(6, 3, 5, 4) * 3 + 2).to(dtype).float()
    mp.spawn(_worker, args=(2, free_port(), x, str(tmp_path), dtype), nprocs=2, join=True)
    parts = [torch.load(tmp_path / f'{r}.pt') for r in range(2)]

    torch.manual_seed(0)
    ref = nn.BatchNorm2d(3, momentum=0.1)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
    xr = x.clone().requires_grad_()
    y = ref(xr)
    weights = torch.cat([torch.arange(y.numel() // 2, dtype=y.dtype).view(3, 3, 5, 4).sin()] * 2)
    (y * weights).sum().backward()

    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(torch.cat([p['y'] for p in parts]), y.detach(), **tol)
    torch.testing.assert_close(torch.cat([p['gx'] for p in parts]), xr.grad, **dict(tol, rtol=max(tol['rtol'], 1e-4)))
    for p in parts:  # parameters, gradients and running statistics stay fp32
        assert p['gw'].dtype == p['rm'].dtype == torch.float32
        torch.testing.assert_close(p['gw'], ref.weight.grad, **dict(tol, rtol=max(tol['rtol'], 1e-4)))
        torch.testing.assert_close(p['gb'], ref.bias.grad, **dict(tol, rtol=max(tol['rtol'], 1e-4)))
        torch.testing.assert_close(p['rm'], ref.running_mean)
        torch.testing.assert_close(p['rv'], ref.running_var)


def test_single_process_is_plain_batch_norm_and_conversion_shares_state():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Sequential(nn.SyncBatchNorm(4)))
    bn = model[1][0]
    convert_sync_batchnorm_for_cpu(model)
    new = model[1][0]
    assert type(new) is CPUSyncBatchNorm
    assert new.weight is bn.weight and new.running_mean is bn.running_mean
    x = torch.randn(4, 4, 3, 3)
    ref = nn.BatchNorm2d(4)
    torch.testing.assert_close(new(x), ref(x))
    torch.testing.assert_close(new.running_var, ref.running_var)
    with pytest.raises(ValueError, match='2D'):
        new(torch.randn(4))


def test_slurm_environment_translation():
    env = dict(
        SLURM_PROCID='3', SLURM_NTASKS='8', SLURM_LOCALID='1', SLURM_NODELIST='node[1-2]', MASTER_ADDR='10.0.0.1'
    )
    slurm_to_torch_env(env)
    assert (env['RANK'], env['WORLD_SIZE'], env['LOCAL_RANK'], env['MASTER_PORT']) == ('3', '8', '1', '29500')
    with pytest.raises(RuntimeError, match='SLURM_PROCID'):
        slurm_to_torch_env({})
