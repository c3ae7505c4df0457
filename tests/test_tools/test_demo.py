"""tools/demo.py end to end, shortened: data, training, test with drawings, the plot."""

import sys

from ..conftest import run_tool, tool_env


def test_segmentation_demo_writes_overlays_and_curves(tmp_path):
    work = tmp_path / 'work'
    log = run_tool(
        [
            sys.executable,
            'tools/demo.py',
            '--iters',
            '8',
            '--min-score',
            '0',
            '--work-dir',
            str(work),
            '--data-root',
            str(tmp_path / 'data'),
        ],
        tool_env(OMP_NUM_THREADS='2'),
        timeout=600,
    )
    assert 'final validation mIoU:' in log and 'eta:' in log and 's per training iteration' in log
    assert (tmp_path / 'data' / 'ADEChallengeData2016' / 'shapes.json').exists()
    assert len(list((work / 'overlays').rglob('*.png'))) == 40  # one per validation image
    assert (work / 'curves.png').stat().st_size > 10_000


def test_detection_demo_prints_box_and_mask_map_and_draws(tmp_path):
    work = tmp_path / 'work'
    log = run_tool(
        [
            sys.executable,
            'tools/demo.py',
            '--task',
            'det',
            '--iters',
            '8',
            '--min-score',
            '0',
            '--work-dir',
            str(work),
            '--data-root',
            str(tmp_path / 'data'),
        ],
        tool_env(OMP_NUM_THREADS='2'),
        timeout=600,
    )
    assert 'final validation coco/bbox_mAP:' in log and 'coco/segm_mAP:' in log and 'eta:' in log
    assert (tmp_path / 'data' / 'coco' / 'shapes.json').exists()
    drawings = list((work / 'overlays').rglob('*.jpg')) + list((work / 'overlays').rglob('*.png'))
    assert len(drawings) == 24  # one per validation image
    assert (work / 'curves.png').stat().st_size > 10_000
