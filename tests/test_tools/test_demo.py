"""tools/demo.py end to end, shortened: data, training, test with overlays, the plot."""
import sys

from ..conftest import run_tool, tool_env


def test_demo_runs_and_writes_overlays_and_curves(tmp_path):
    work = tmp_path / 'work'
    log = run_tool([sys.executable, 'tools/demo.py', '--iters', '8', '--min-miou', '0', '--work-dir', str(work),
                    '--data-root', str(tmp_path / 'data')], tool_env(OMP_NUM_THREADS='2'), timeout=600)
    assert 'final validation mIoU:' in log and 'eta:' in log
    assert (tmp_path / 'data' / 'ADEChallengeData2016' / 'shapes.json').exists()
    assert len(list((work / 'overlays').rglob('*.png'))) == 40  # one per validation image
    assert (work / 'curves.png').stat().st_size > 10_000
