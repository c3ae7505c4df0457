"""What the tools share that is not a registered part: config loading, the edits their command-line flags make
(:func:`apply_cli_args`), following a user's own dataset (:func:`use_custom_data`), building the model and the
runner, CPU distributed set-up and teardown.

Kept apart from :mod:`mmconvnext.engine` (the registered training parts) so that ``custom_imports=['mmconvnext']``
in a config, or ``import mmconvnext``, loads none of this plumbing.
"""

from .cli import (
    add_analysis_args,
    add_data_args,
    add_output,
    analysis_setup,
    apply_cli_args,
    check_analysis_args,
    enable_tta,
    enable_visualization,
    evaluate_checkpoint,
    merge_cfg_options,
)
from .config import enable_amp, load_config, set_epoch_schedule, set_pretrained, shorten_schedule
from .cpu_dist import setup_cpu_distributed, slurm_to_torch_env, use_cpu_distributed
from .custom_data import config_task, read_classes_file, set_data_root, set_num_classes, use_custom_data
from .liveness import watch_ranks
from .runner import build_model, build_runner, distributed_teardown

__all__ = [
    'add_analysis_args',
    'add_data_args',
    'analysis_setup',
    'check_analysis_args',
    'add_output',
    'apply_cli_args',
    'build_model',
    'build_runner',
    'config_task',
    'distributed_teardown',
    'enable_amp',
    'enable_tta',
    'enable_visualization',
    'evaluate_checkpoint',
    'merge_cfg_options',
    'load_config',
    'read_classes_file',
    'set_data_root',
    'set_num_classes',
    'set_pretrained',
    'setup_cpu_distributed',
    'set_epoch_schedule',
    'shorten_schedule',
    'slurm_to_torch_env',
    'use_cpu_distributed',
    'use_custom_data',
    'watch_ranks',
]
