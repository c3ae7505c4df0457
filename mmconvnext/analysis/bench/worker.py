"""One row or case of the benchmark, in this process: ``python -m mmconvnext.analysis.bench.worker JOB``, JOB a JSON
object with ``impl`` (a backbone row: :func:`.backbone.run_impl`'s arguments; with ``profile``,
:func:`.profile.profile_impl`'s) or ``case`` (a whole-model case: :func:`.whole.run_whole_case`'s) and ``threads``.
Prints the result as one JSON line. The report starts one process per row so that one row's thread pools and memory
do not touch another's."""

import json
import sys

import torch

from .backbone import run_impl
from .profile import profile_impl
from .whole import run_whole_case

__all__ = ['run_job']


def run_job(job: dict) -> dict:
    """The result of ``job`` (see the module docstring)."""
    job = dict(job)
    torch.set_num_threads(int(job.get('threads') or torch.get_num_threads()))
    if 'impl' in job and job.pop('profile', False):
        job.pop('threads', None)
        return profile_impl(**job)
    if 'impl' in job:
        return run_impl(**job)
    if 'case' in job:
        job.pop('threads', None)
        return run_whole_case(**job)
    raise ValueError(f'a benchmark job names an impl or a case, got {sorted(job)}')


if __name__ == '__main__':
    print(json.dumps(run_job(json.loads(sys.argv[1]))))
