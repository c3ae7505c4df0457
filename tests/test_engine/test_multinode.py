"""Multi-node on one host: tools/dist_train.sh started twice with NNODES=2 NODE_RANK=0/1 MASTER_ADDR=127.0.0.1,
one process per "node" (gloo), trains and checkpoints; and when one node's worker dies mid-run (SIGKILL), the
other node exits with an error naming rank 1 within a bounded time instead of hanging."""

import contextlib
import os
import signal
import subprocess
import time

from ..conftest import ROOT, tool_env

TOY = """
custom_imports = dict(imports=['tests.test_engine.toy'], allow_failed_imports=False)
default_scope = 'mmengine'
model = dict(type='ToyNoisyClassifier')
train_dataloader = dict(
    dataset=dict(type='ToyAugmentedData'),
    batch_size=4,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
)
train_cfg = dict(by_epoch=False, max_iters={iters})
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
    logger=dict(type='LoggerHook', interval=3),
)
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
"""


def start_nodes(tmp_path, iters):
    config = tmp_path / 'toy.py'
    config.write_text(TOY.format(iters=iters))
    env = tool_env(NNODES='2', MASTER_ADDR='127.0.0.1')  # one free PORT for both nodes
    nodes = []
    for node in (0, 1):
        log = open(tmp_path / f'node{node}.log', 'w')  # noqa: SIM115 - closed by the caller's wait
        cmd = ['bash', 'tools/dist_train.sh', str(config), '1', '--work-dir', str(tmp_path / f'work{node}')]
        proc = subprocess.Popen(
            cmd, env={**env, 'NODE_RANK': str(node)}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        nodes.append((proc, log))
    return nodes


def finish(nodes, timeout):
    """Wait for both nodes; whatever is still running after ``timeout`` is killed, workers included (torchrun
    starts each worker in a session of its own, so killing the agent's group would leave them behind)."""
    codes, give_up = [], time.time() + timeout
    for proc, _log in nodes:
        try:
            codes.append(proc.wait(timeout=max(0.1, give_up - time.time())))
        except subprocess.TimeoutExpired:
            codes.append(None)
    for proc, log in nodes:
        if proc.poll() is None:
            for pid in children(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    return codes


def children(pid: int) -> list:
    found = []
    for child in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{child}/stat') as f:
                if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                    found.append(int(child))
        except (OSError, ValueError, IndexError):
            continue
    return found


def worker_of(agent: int) -> int:
    """The training worker of a node: the child of its torchrun agent (the ``bash tools/dist_train.sh`` process
    execs into the agent, so they share a pid)."""
    workers = children(agent)
    assert len(workers) == 1, f'expected one worker under torchrun agent {agent}, found {workers}'
    return workers[0]


def test_two_nodes_on_one_host_train_and_checkpoint(tmp_path):
    codes = finish(start_nodes(tmp_path, iters=6), timeout=240)
    logs = [(tmp_path / f'node{n}.log').read_text() for n in (0, 1)]
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    # rank 0 (on node 0) writes the checkpoints; both ranks trained the 6 iterations in one world of 2
    assert (tmp_path / 'work0' / 'iter_6.pth').is_file()
    assert (tmp_path / 'work0' / 'last_checkpoint').read_text().strip().endswith('iter_6.pth')
    assert not (tmp_path / 'work1' / 'iter_6.pth').exists()
    assert 'Distributed training: True' in logs[0] and 'GPU number: 2' in logs[0]  # mmengine's words for 2 ranks


def test_a_dead_rank_is_named_by_the_survivor(tmp_path):
    nodes = start_nodes(tmp_path, iters=100000)
    (node0, _), (node1, _) = nodes
    try:
        deadline = time.time() + 180
        while not (tmp_path / 'work0' / 'last_checkpoint').exists():
            assert node0.poll() is None and node1.poll() is None, (tmp_path / 'node0.log').read_text()[-3000:]
            assert time.time() < deadline, 'no checkpoint within 180 s'
            time.sleep(0.1)
        os.kill(worker_of(node1.pid), signal.SIGKILL)
        killed = time.time()
        code0 = node0.wait(timeout=90)  # bounded: the survivor's node gives up, it never hangs
        waited = time.time() - killed
    finally:
        finish(nodes, timeout=30)
    log0 = (tmp_path / 'node0.log').read_text()
    assert code0 != 0, log0[-3000:]
    assert 'rank 1 of 2 stopped' in log0, log0[-3000:]
    assert waited < 60, f'node 0 took {waited:.0f} s to exit'
