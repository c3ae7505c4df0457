"""What the tools share that is not a registered part: config loading, the edits their command-line flags make
(:func:`apply_cli_args`), building the model and the runner, CPU distributed set-up and teardown.

Kept apart from :mod:`mmconvnext.engine` (the registered training parts) so that ``custom_imports=['mmconvnext']``
in a config, or ``import mmconvnext``, loads none of this plumbing.
"""

from .cli import add_output, apply_cli_args, enable_tta, enable_visualization, evaluate_checkpoint, merge_cfg_options
from .config import enable_amp, load_config, set_data_root, shorten_schedule
from .cpu_dist import setup_cpu_distributed, slurm_to_torch_env, use_cpu_distributed
from .liveness import watch_ranks
from .runner import build_model, build_runner, distributed_teardown

__all__ = [
    'add_output',
    'apply_cli_args',
    'build_model',
    'build_runner',
    'distributed_teardown',
    'enable_amp',
    'enable_tta',
    'enable_visualization',
    'evaluate_checkpoint',
    'merge_cfg_options',
    'load_config',
    'set_data_root',
    'setup_cpu_distributed',
    'shorten_schedule',
    'slurm_to_torch_env',
    'use_cpu_distributed',
    'watch_ranks',
]
