"""The segmentation job end to end through the real tools, on the real UperNet config
shrunk by a derived config (tiny backbone, 32x32 crops) and a tiny ADE20K-layout
dataset made on the fly: train -> resume -> test (mIoU, overlays, --out, --tta), then
2 CPU processes through dist_train.sh (gloo, SyncBN) and dist_test.sh, and
slurm_train.sh (a stub srun)."""

import pickle
import sys

import pytest
import torch

import mmconvnext  # noqa: F401  (its import allow-lists mmengine checkpoint state for torch.load)
from mmconvnext.datasets import make_shapes_dataset
from mmconvnext.datasets.ade20k import ADE20K_URL

from ..conftest import ROOT, load_checkpoint_file, run_tool, run_tool_failing, tool_env
from ..derived_configs import seg_tiny

DERIVED = seg_tiny(
    str(ROOT / 'configs' / 'upernet_convnext_tiny_ade20k.py'),
    test_cfg='dict(crop_size=crop_size, stride=(21, 21))',
    tta=True,
)


@pytest.fixture(scope='module')
def seg_job(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('seg')
    data_root = make_shapes_dataset(str(tmp / 'data'), num_train=4, num_val=2, size=48)
    config = tmp / 'upernet_tiny_derived.py'
    config.write_text(DERIVED)
    return dict(tmp=tmp, data_root=data_root, config=str(config), env=tool_env())


def test_train_resume_test(seg_job):
    tmp, config, env, data = seg_job['tmp'], seg_job['config'], seg_job['env'], seg_job['data_root']
    work = tmp / 'work'
    train = [sys.executable, 'tools/train.py', config, '--work-dir', str(work), '--data-root', data]
    log = run_tool(train, env)
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log  # validated at iteration 2
    assert (work / 'iter_2.pth').exists()

    log = run_tool(train + ['--resume', '--cfg-options', 'train_cfg.max_iters=4'], env)
    assert 'resumed epoch: 0, iter: 2' in log and 'Iter(train) [4/4]' in log
    ckpt = load_checkpoint_file(work / 'iter_4.pth')  # weights_only, allow-listed for the load
    assert ckpt['meta']['iter'] == 4

    show, out = tmp / 'show', tmp / 'preds.pkl'
    log = run_tool(
        [
            sys.executable,
            'tools/test.py',
            config,
            str(work / 'iter_4.pth'),
            '--work-dir',
            str(work),
            '--data-root',
            data,
            '--show-dir',
            str(show),
            '--out',
            str(out),
        ],
        env,
    )
    assert 'Iter(test) [2/2]' in log and 'mIoU:' in log
    overlays = sorted(show.rglob('*.png'))
    assert len(overlays) == 2, overlays  # one drawing per validation image
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 2 and preds[0]['pred_sem_seg']['data'].shape[-2:] == (48, 48)

    log = run_tool(
        [
            sys.executable,
            'tools/test.py',
            config,
            str(work / 'iter_4.pth'),
            '--work-dir',
            str(work),
            '--data-root',
            data,
            '--tta',
            '--out',
            str(tmp / 'label_maps'),
        ],
        env,
    )
    assert 'mIoU:' in log
    assert len(list((tmp / 'label_maps').glob('*.png'))) == 2


def test_dist_train_and_dist_test_two_cpu_processes_with_sync_bn(seg_job):
    work = seg_job['tmp'] / 'dist'
    log = run_tool(
        [
            'bash',
            'tools/dist_train.sh',
            seg_job['config'],
            '2',
            '--work-dir',
            str(work),
            '--data-root',
            seg_job['data_root'],
        ],
        seg_job['env'],
    )
    assert 'Distributed training: True' in log and 'Iter(train) [2/2]' in log
    assert (work / 'iter_2.pth').exists()

    log = run_tool(
        [
            'bash',
            'tools/dist_test.sh',
            seg_job['config'],
            str(work / 'iter_2.pth'),
            '2',
            '--work-dir',
            str(work),
            '--data-root',
            seg_job['data_root'],
        ],
        tool_env(),
    )
    assert 'Distributed training: True' in log and 'Iter(test) [1/1]' in log and 'mIoU:' in log  # 2 images / 2


def test_slurm_train_through_a_stub_srun(seg_job):
    """slurm_train.sh -> srun (a stub that runs one task with slurm's variables) ->
    train.py --launcher slurm, which on a CPU machine takes the gloo path."""
    bin_dir = seg_job['tmp'] / 'bin'
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / 'srun'
    srun.write_text(
        '#!/usr/bin/env bash\n'
        'echo "srun $*" >&2\n'
        'while [ "$1" != python ]; do shift; done\n'  # drop srun's own options
        'SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 SLURM_NODELIST=localhost '
        'MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT exec "$@"\n'
    )
    srun.chmod(0o755)
    work = seg_job['tmp'] / 'slurm'
    env = tool_env(PATH=str(bin_dir), GPUS='1', GPUS_PER_NODE='1', CPU_ONLY='1')
    log = run_tool(
        [
            'bash',
            'tools/slurm_train.sh',
            'cpu',
            'job',
            seg_job['config'],
            '--work-dir',
            str(work),
            '--data-root',
            seg_job['data_root'],
        ],
        env,
    )
    assert 'srun -p cpu --job-name=job --ntasks=1' in log and '--gres' not in log
    assert 'Distributed training: True' in log and (work / 'iter_2.pth').exists()


def test_missing_dataset_through_the_real_config(tmp_path):
    """The unmodified tiny config, pointed at nothing: one message naming the path and the source."""
    missing = tmp_path / 'nowhere' / 'ADEChallengeData2016'
    stderr = run_tool_failing(
        [
            sys.executable,
            'tools/train.py',
            'configs/upernet_convnext_tiny_ade20k.py',
            '--work-dir',
            str(tmp_path / 'work'),
            '--data-root',
            str(missing),
        ],
        tool_env(),
    )
    last = stderr.strip().splitlines()[-1]
    assert last.startswith('FileNotFoundError: ADE20KDataset: dataset not found')
    assert str(missing / 'images' / 'training') in last and ADE20K_URL in last


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path of --amp')
def test_amp_trains_in_bf16_on_a_cpu(seg_job):
    """--amp on a CPU: bf16 autocast through mmconvnext.AutocastOptimWrapper (logged once,
    with the warning on CPUs without native bf16), end to end with with_cp; the
    checkpoint holds fp32 weights."""
    work = seg_job['tmp'] / 'amp'
    train = [
        sys.executable,
        'tools/train.py',
        seg_job['config'],
        '--work-dir',
        str(work),
        '--data-root',
        seg_job['data_root'],
    ]
    log = run_tool(train + ['--amp', '--cfg-options', 'model.backbone.with_cp=True'], seg_job['env'])
    assert "type='mmconvnext.AutocastOptimWrapper'" in log and "dtype='bfloat16'" in log  # the dumped config
    assert log.count('mixed precision: the forward pass runs under cpu autocast to torch.bfloat16') == 1
    from mmconvnext.device import cpu_has_native_bf16

    assert ('no native bf16 instructions' in log) != cpu_has_native_bf16()
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log and 'loss: nan' not in log
    ckpt = load_checkpoint_file(work / 'iter_2.pth')
    assert all(v.dtype == torch.float32 for v in ckpt['state_dict'].values() if v.is_floating_point())


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message given without a GPU')
def test_amp_fp16_without_a_gpu_says_so(seg_job):
    cmd = [sys.executable, 'tools/train.py', seg_job['config'], '--amp', '--amp-dtype', 'float16']
    stderr = run_tool_failing(cmd, seg_job['env'])
    assert '--amp-dtype float16 needs a GPU' in stderr and seg_job['config'] in stderr
    stderr = run_tool_failing(
        [sys.executable, 'tools/train.py', seg_job['config'], '--amp-dtype', 'bfloat16'], seg_job['env']
    )
    assert 'give --amp too' in stderr
