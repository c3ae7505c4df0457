"""Detection as one graph (``export.py --end2end``): a two-stage mmdet detector from the image to its boxes,
scores, labels and RoI-resolution masks (:class:`mmconvnext.deploy.detector_graph.DetectorGraph`: anchors, box
decoding, NMS, multi-level RoIAlign and the cascade's stages are in the graph). Inputs: the preprocessed image
(batch 1) and ``image_hw``, its height and width before padding. What stays outside is the rescale to the
original image and the paste of each mask into its box: at runtime mmdet's own (so ``tools/test.py --backend``
evaluates with the config's metrics), in ``run.py`` a numpy paste. Chosen by name, never by :func:`task_of`:
the graphs of the default detector export (:mod:`.detector`) remain its split alternative."""

import torch
from mmengine.structures import InstanceData

from ..base import ExportPart
from ..detector_graph import DetectorGraph
from . import DeployTask, register
from .detector import Detection, heads

OUTPUTS = ['boxes', 'scores', 'labels', 'masks']


@register
class DetectionEnd2End(DeployTask):
    name = 'detection_end2end'

    def matches(self, model) -> bool:
        return False  # asked for: export_model(..., end2end=True)

    def parts(self, model, image, image_axes, dynamic) -> list:
        image = image[:1]
        image_hw = torch.tensor(image.shape[2:], dtype=torch.float32)
        axes = {'input': {2: 'height', 3: 'width'}, **{o: {0: 'detections'} for o in OUTPUTS}}
        return [ExportPart('detector', DetectorGraph(model), (image, image_hw), ['input', 'image_hw'], OUTPUTS, axes)]

    def attach(self, model, graph) -> None:
        detector = graph('detector')

        def predict(batch_inputs, batch_data_samples, rescale: bool = True):
            results = []
            for image, sample in zip(batch_inputs, batch_data_samples):
                image_hw = torch.tensor(sample.metainfo['img_shape'][:2], dtype=torch.float32)
                boxes, scores, labels, masks = detector(image[None], image_hw)
                results.append(instances(model, boxes, scores, labels.long(), masks, sample.metainfo, rescale))
            return model.add_pred_to_datasample(batch_data_samples, results)

        model.predict = predict

    def record(self, sample, class_name) -> dict:
        return Detection.record(self, sample, class_name)


def instances(model, boxes, scores, labels, masks, meta: dict, rescale: bool) -> InstanceData:
    """The graph's outputs as mmdet's ``predict`` returns them: boxes divided by the resize factor, masks
    pasted into the original image by the model's own mask head (``FCNMaskHead._predict_by_feat_single``)."""
    result = InstanceData()
    factor = boxes.new_tensor(meta['scale_factor']).repeat(2)
    result.bboxes = boxes / factor if rescale else boxes
    result.scores, result.labels = scores, labels
    mask_heads = heads(model.roi_head, 'mask_head')
    if mask_heads and getattr(model.roi_head, 'with_mask', False):
        h, w = meta['ori_shape'][:2] if rescale else meta['img_shape'][:2]
        if len(boxes) == 0:
            result.masks = torch.zeros(0, h, w, dtype=torch.bool)
        else:
            result.masks = mask_heads[-1]._predict_by_feat_single(
                mask_preds=masks[:, None],
                bboxes=boxes.clone(),
                labels=torch.zeros_like(labels),  # the graph already took the detected class's channel
                img_meta=meta,
                rcnn_test_cfg=model.roi_head.test_cfg,
                rescale=rescale,
                activate_map=True,
            )
    return result
