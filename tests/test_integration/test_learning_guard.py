"""The learning guard: the real classification config, through the tools' runner, still learns scikit-learn's
handwritten digits (real scans) as well as it measured to (docs/learning_guard.md). A change that quietly
damages data loading, seeding or augmentation fails here while every other test still passes."""

import json

import pytest

from mmconvnext.analysis.learning_guard import run_guard

from ..conftest import ROOT

pytest.importorskip('sklearn', reason='the learning guard needs scikit-learn (requirements-dev.txt)')

#: held-out top-1 (EMA weights) the shipped code must reach with seed 0; set from the seed spread and the
#: breakages of docs/results/learning_guard.json (see docs/learning_guard.md for how it was chosen)
THRESHOLD = 83.0


def test_the_toolkit_still_learns_real_digits(tmp_path):
    result = run_guard(str(ROOT), str(tmp_path), seed=0, epochs=8)
    assert result['top1'] >= THRESHOLD, result


def test_the_threshold_sits_between_the_seeds_and_the_breakages():
    results = json.loads((ROOT / 'docs' / 'results' / 'learning_guard.json').read_text())
    shipped = [r['top1'] for r in results['runs'] if r['breakage'] is None]
    broken = {r['breakage'] for r in results['runs'] if r['breakage'] is not None}
    assert len(shipped) >= 5 and len(broken) >= 2  # the threshold's evidence: at least 5 seeds, 2 breakages
    worst_broken = max(r['top1'] for r in results['runs'] if r['breakage'] is not None)
    assert worst_broken < THRESHOLD <= min(shipped), (THRESHOLD, shipped, worst_broken)
