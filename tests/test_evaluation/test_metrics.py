"""Top-k accuracy: known answers on hand-made scores, ties, both sample forms, k
clamped to the number of classes, the registry, and gathering across two ranks."""

import os
import warnings

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

from mmconvnext.evaluation import Accuracy

from ..conftest import free_port

# 6 classes; the answers: top-1 right for samples 0 and 3, top-5 right for 0, 1 and 3
SCORES = torch.tensor(
    [
        [0.10, 0.60, 0.20, 0.05, 0.05, 0.00],  # label 1: top-1 right
        [0.50, 0.10, 0.30, 0.05, 0.03, 0.02],  # label 2: second best, right from top-2 on
        [0.90, 0.02, 0.02, 0.02, 0.02, 0.02],  # label 5: tied with 1..4, ranked last by index -> not in top-5
        [1 / 6] * 6,  # label 0: all tied, the lowest index wins top-1
    ]
)
LABELS = [1, 2, 5, 0]


def _elements(scores=SCORES, labels=LABELS) -> list:
    return [BaseDataElement(pred_score=s, gt_label=torch.tensor([y])) for s, y in zip(scores, labels)]


def _evaluate(metric: Accuracy, samples: list) -> dict:
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_known_answers_with_data_elements():
    metrics = _evaluate(Accuracy(topk=(1, 2, 5)), _elements())
    assert metrics == {'accuracy/top1': 50.0, 'accuracy/top2': 75.0, 'accuracy/top5': 75.0}


def test_dict_samples_as_the_evaluator_passes_them():
    dicts = [e.to_dict() for e in _elements()]
    assert isinstance(dicts[0], dict) and 'pred_score' in dicts[0]
    assert _evaluate(Accuracy(), dicts) == {'accuracy/top1': 50.0, 'accuracy/top5': 75.0}
    # plain ints as labels work too, and mmengine's Evaluator converts the data elements itself
    plain = [dict(pred_score=s, gt_label=y) for s, y in zip(SCORES, LABELS)]
    assert _evaluate(Accuracy(topk=1, prefix='val_acc'), plain) == {'val_acc/top1': 50.0}
    evaluator = Evaluator(dict(type='mmconvnext.Accuracy', topk=(1, 5)))
    evaluator.process(_elements()[:2], data_batch={})
    evaluator.process(_elements()[2:], data_batch={})
    assert evaluator.evaluate(4) == {'accuracy/top1': 50.0, 'accuracy/top5': 75.0}


def test_ties_are_deterministic():
    tied = torch.full((8, 5), 0.2)
    results = [_evaluate(Accuracy(topk=(1, 3)), _elements(tied, [0, 1, 2, 3, 4, 0, 2, 4])) for _ in range(3)]
    # ranking 0,1,2,3,4 on every sample: top-1 right for label 0 (2 of 8), top-3 for labels 0..2 (5 of 8)
    assert all(r == {'accuracy/top1': 25.0, 'accuracy/top3': 62.5} for r in results)


def test_topk_clamped_to_the_number_of_classes_warns_once():
    scores = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    metric = Accuracy(topk=(1, 5))
    with pytest.warns(UserWarning, match='4 scored'):
        metric.process({}, _elements(scores, [3, 0]))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        metric.process({}, _elements(scores, [0, 2]))
    assert metric.evaluate(4) == {'accuracy/top1': 50.0, 'accuracy/top5': 100.0}


def test_results_are_small_and_on_cpu():
    metric = Accuracy(topk=(1, 5))
    metric.process({}, _elements(torch.randn(3, 1000), [1, 2, 3]))
    assert [sorted(r) for r in metric.results] == [['gt_label', 'topk']] * 3
    assert all(r['topk'].shape == (5,) and isinstance(r['gt_label'], int) for r in metric.results)


def test_bad_arguments_and_samples_are_named():
    with pytest.raises(ValueError, match='topk'):
        Accuracy(topk=(0, 1))
    with pytest.raises(KeyError, match="data sample 0 has no 'pred_score'"):
        Accuracy().process({}, [dict(gt_label=1)])
    with pytest.raises(KeyError, match="no 'gt_label'"):
        Accuracy().process({}, [BaseDataElement(pred_score=torch.rand(3))])


def test_registered_in_the_mmconvnext_scope():
    from mmengine.registry import METRICS

    metric = METRICS.build(dict(type='mmconvnext.Accuracy', topk=(1,)))
    assert isinstance(metric, Accuracy) and metric.prefix == 'accuracy'


def _rank(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    # DefaultSampler's split of 5 samples over 2 ranks: 0,2,4 and 1,3 + padding (sample 0 again)
    elements = _elements(torch.cat([SCORES, SCORES[:1]]), LABELS + [1])
    mine = [elements[i] for i in ((0, 2, 4) if rank == 0 else (1, 3, 0))]
    metric = Accuracy(topk=(1, 5), collect_dir=os.path.join(out_dir, 'collect'))
    metric.process({}, [e.to_dict() for e in mine])
    torch.save(metric.evaluate(5), os.path.join(out_dir, f'{rank}.pt'))
    dist.destroy_process_group()


def test_gathered_across_two_ranks(tmp_path):
    # fork: the children inherit the imports (spawning would re-import torch and mmengine)
    mp.start_processes(_rank, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True, start_method='fork')
    # the 5 samples once each (padding dropped): top-1 right for 0, 3, 4; top-5 also for 1
    expected = {'accuracy/top1': 60.0, 'accuracy/top5': 80.0}
    for rank in range(2):  # BaseMetric broadcasts rank 0's result
        assert torch.load(tmp_path / f'{rank}.pt') == expected
