"""Which rank died: a heartbeat per rank in the rendezvous store, read when a collective fails.

When one process of a distributed run dies (SIGKILL, OOM killer, a node lost), the others fail their next
gloo collective within a second or so -- with ``Connection reset by peer [127.0.0.1]:PORT``, which names no
rank. torchrun's agent on the dead rank's node names it, but in that node's log only. Here every rank adds
1 to its counter in the torchrun store every second from a daemon thread; when training raises, a survivor
reads the counters twice, 3 s apart, and names the ranks whose counters stood still (or says that the store
itself is gone: the master node's agent died). Written by hand: torch and mmengine have nothing of this
(gloo's ``monitored_barrier`` fails on the broken group with the same message).
"""

import contextlib
import datetime
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Optional

import torch.distributed as dist

__all__ = ['Heartbeat', 'watch_ranks']

_KEY = 'mmconvnext/heartbeat/{}'


class Heartbeat:
    """Beats for this rank of a torchrun (or slurm) job; started by :func:`watch_ranks`."""

    def __init__(self, interval: float = 1.0) -> None:
        self.rank = int(os.environ['RANK'])
        self.world = int(os.environ['WORLD_SIZE'])
        self.interval = interval
        self._stop = threading.Event()
        self._store = self._connect()
        self._store.add(_KEY.format(self.rank), 1)
        self._thread = threading.Thread(target=self._beat, name='mmconvnext-heartbeat', daemon=True)
        self._thread.start()

    @staticmethod
    def _connect() -> 'dist.TCPStore':
        # a client connection of its own to torchrun's store (MASTER_ADDR:MASTER_PORT), so that the beats
        # never wait behind the process group's traffic
        return dist.TCPStore(
            os.environ['MASTER_ADDR'],
            int(os.environ['MASTER_PORT']),
            is_master=False,
            timeout=datetime.timedelta(seconds=10),
        )

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._store.add(_KEY.format(self.rank), 1)
            except Exception:  # noqa: BLE001 - the store is gone: nothing more to report
                return

    def stop(self) -> None:
        self._stop.set()

    def dead_ranks(self, wait: Optional[float] = None) -> str:
        """A sentence naming the ranks that stopped beating (waits ``3 * interval`` to tell)."""
        try:
            store = self._connect()
            keys = [_KEY.format(r) for r in range(self.world)]
            before = [int(store.add(k, 0)) for k in keys]
            time.sleep(3 * self.interval if wait is None else wait)
            after = [int(store.add(k, 0)) for k in keys]
        except Exception as e:  # noqa: BLE001
            return (
                f'the rendezvous store at {os.environ["MASTER_ADDR"]}:{os.environ["MASTER_PORT"]} is gone '
                f'({type(e).__name__}): the master node (NODE_RANK=0) or its torchrun agent died'
            )
        dead = [r for r in range(self.world) if after[r] == before[r] and r != self.rank]
        if not dead:
            return 'every other rank is still alive; the failure is in this rank or the network'
        return f'rank{"s" if len(dead) > 1 else ""} {", ".join(map(str, dead))} of {self.world} stopped (died or hung)'


@contextlib.contextmanager
def watch_ranks() -> Iterator[None]:
    """Around a distributed run (a no-op otherwise): heartbeats while it runs and, if it raises, a line on
    stderr naming the ranks that stopped before the error goes on."""
    env_ok = all(k in os.environ for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'))
    if not (env_ok and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        yield
        return
    heartbeat = Heartbeat()
    try:
        yield
    except Exception as e:
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        print(f'[rank {heartbeat.rank}] training stopped: {heartbeat.dead_ranks()} ({first})', file=sys.stderr)
        raise
    finally:
        heartbeat.stop()
