"""Run an export with numpy, OpenCV and onnxruntime (or OpenVINO) alone: no torch, mmcv, mmdet or mmseg.

    python DIR/run.py IMAGE [IMAGE ...] [--backend onnxruntime|openvino] [--out-dir OUT] [--threads N]
    python -m mmconvnext.deploy.standalone DIR IMAGE [...]      # the same, where mmconvnext is installed

``export.py`` copies this file into every export directory as ``run.py``, so the directory alone is a
deployable model. It reads ``deploy.json`` and re-creates the config's test-time processing from what it
records: image loading as mmcv does it (OpenCV, BGR), the test pipeline's ``Resize`` (mmcv's rescale rule,
OpenCV interpolation) and ``CenterCrop``, the data preprocessor's channel order, mean and std and padding; for
segmentation the config's whole-image or sliding-window inference and the resize of the logits back to the
image; for a one-graph detector (``export.py --end2end``) the boxes divided by the resize factor and each
mask pasted into its box in the original image (:func:`paste_masks`). ``OUT/predictions.json`` has the format
``tools/deployment/infer.py`` writes (top-5 classes; pixels per class; boxes, scores and labels), and a
detector's masks go to ``OUT/masks/<image name>.npz`` (``masks``: (N, H, W) bool, in the order of the boxes).
The split detector export (several graphs with mmdet/mmcv between them) does not run here.

Written by hand (standard library, numpy, OpenCV): the point is to need nothing else. Import nothing from
mmconvnext here.
"""

import argparse
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np

INTERPOLATION = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'area': cv2.INTER_AREA,
    'lanczos': cv2.INTER_LANCZOS4,
}


class StandaloneError(RuntimeError):
    """What cannot run here, naming the file or the step."""


# ---------------------------------------------------------------------------- the test pipeline
def load_image(path: str) -> np.ndarray:
    """BGR uint8, as mmcv's LoadImageFromFile (OpenCV, EXIF orientation applied) reads it."""
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise StandaloneError(f'{path}: not an image OpenCV can read')
    return image


def resize(image: np.ndarray, step: dict) -> np.ndarray:
    """mmcv's ``Resize``: to ``scale`` (w, h), or with ``keep_ratio`` by the largest factor that keeps the long
    side within max(scale) and the short within min(scale)."""
    if step.get('scale') is None:
        raise StandaloneError(f'Resize without scale ({step}) is not supported here')
    scale = step['scale']
    scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
    h, w = image.shape[:2]
    if step.get('keep_ratio', False):
        factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
        size = (int(w * factor + 0.5), int(h * factor + 0.5))
    else:
        size = (int(scale[0]), int(scale[1]))
    return cv2.resize(image, size, interpolation=INTERPOLATION[step.get('interpolation', 'bilinear')])


def center_crop(image: np.ndarray, step: dict) -> np.ndarray:
    """mmcv's ``CenterCrop``: ``crop_size`` (w, h) from the centre, Python's rounding of the offsets."""
    size = step['crop_size']
    cw, ch = (size, size) if isinstance(size, int) else size
    h, w = image.shape[:2]
    y1, x1 = max(0, int(round((h - ch) / 2.0))), max(0, int(round((w - cw) / 2.0)))
    return image[y1 : min(h, y1 + ch), x1 : min(w, x1 + cw)]


STEPS = {'Resize': resize, 'CenterCrop': center_crop, 'mmconvnext.CenterCrop': center_crop}
#: steps that do nothing to the image at test time
IGNORED = ('LoadImageFromFile', 'LoadAnnotations', 'PackSegInputs', 'PackDetInputs', 'PackClsInputs')


def preprocess(image: np.ndarray, pre: dict) -> tuple:
    """The test pipeline's image steps, then the data preprocessor: (1, 3, H, W) float32, and the (H, W) before
    any padding."""
    for step in pre['test_pipeline']:
        kind = step['type']
        if kind in STEPS:
            image = STEPS[kind](image, step)
        elif kind.split('.')[-1] not in IGNORED:
            raise StandaloneError(f'test pipeline step {kind!r} is not supported by the standalone runner')
    if pre['to_rgb']:
        image = image[..., ::-1]
    x = (image.astype(np.float32) - np.float32(pre['mean'])) / np.float32(pre['std'])
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    unpadded = x.shape[2:]
    divisor = pre.get('size_divisor')
    if divisor:  # bottom/right padding to a multiple, as the data preprocessor pads
        h, w = x.shape[2:]
        ph, pw = -h % divisor, -w % divisor
        x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), constant_values=pre.get('pad_value', 0))
    return x, unpadded


# ---------------------------------------------------------------------------- the runtimes
class Graph:
    """One graph of the export on onnxruntime or OpenVINO (CPU, fp32 precision): arrays in, arrays out."""

    def __init__(self, directory: str, meta: dict, name: str, backend: str, threads: int) -> None:
        entry = meta['parts'][name]
        if backend == 'onnxruntime':
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            path = osp.join(directory, entry['onnx'])
            self.session = onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])
            self.names = [i.name for i in self.session.get_inputs()]
        elif backend == 'openvino':
            import openvino

            config = {
                'PERFORMANCE_HINT': 'LATENCY',
                'INFERENCE_PRECISION_HINT': 'f32',
                'INFERENCE_NUM_THREADS': threads,
            }
            path = osp.join(directory, entry.get('openvino') or entry['onnx'])
            self.compiled = openvino.Core().compile_model(path, 'CPU', config)
        else:
            raise StandaloneError(f'--backend must be onnxruntime or openvino, got {backend!r}')
        self.backend = backend

    def __call__(self, *inputs: np.ndarray) -> list:
        if self.backend == 'onnxruntime':
            return self.session.run(None, dict(zip(self.names, inputs)))
        result = self.compiled(list(inputs))
        return [np.asarray(result[out]) for out in self.compiled.outputs]


# ---------------------------------------------------------------------------- the tasks
def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def classify(graph: Graph, x: np.ndarray, classes: list) -> dict:
    scores = softmax(graph(x)[0][0].astype(np.float64))
    top = np.argsort(-scores, kind='stable')[:5]
    return {'top5': [[classes[i] if i < len(classes) else int(i), float(scores[i])] for i in top]}


def resize_logits(logits: np.ndarray, size: tuple) -> np.ndarray:
    """(C, H, W) bilinearly to ``size`` (H, W), half-pixel centres (``align_corners=False``)."""
    chunks = [
        cv2.resize(
            np.ascontiguousarray(logits[c : c + 4].transpose(1, 2, 0)), size[::-1], interpolation=cv2.INTER_LINEAR
        )
        for c in range(0, len(logits), 4)
    ]
    return np.concatenate([c.reshape(size[0], size[1], -1).transpose(2, 0, 1) for c in chunks])


def segment(graph: Graph, x: np.ndarray, unpadded: tuple, test_cfg: dict, original: tuple, classes: list) -> dict:
    """The config's whole-image or sliding-window inference, the padding cut off, the logits resized to the
    image, the argmax."""
    h, w = x.shape[2:]
    if test_cfg.get('mode') == 'slide':
        (ch, cw), (sh, sw) = test_cfg['crop_size'], test_cfg['stride']
        logits, count = None, np.zeros((h, w), np.float32)
        for i in range(max(h - ch + sh - 1, 0) // sh + 1):
            for j in range(max(w - cw + sw - 1, 0) // sw + 1):
                y2, x2 = min(i * sh + ch, h), min(j * sw + cw, w)
                y1, x1 = max(y2 - ch, 0), max(x2 - cw, 0)
                crop = graph(np.ascontiguousarray(x[:, :, y1:y2, x1:x2]))[0][0]
                logits = np.zeros((len(crop), h, w), np.float32) if logits is None else logits
                logits[:, y1:y2, x1:x2] += crop
                count[y1:y2, x1:x2] += 1
        logits /= count
    else:
        logits = graph(x)[0][0]
    logits = logits[:, : unpadded[0], : unpadded[1]]
    labels = resize_logits(logits, original).argmax(axis=0)
    values, counts = np.unique(labels, return_counts=True)
    name = {int(v): str(classes[v]) if v < len(classes) else str(int(v)) for v in values}
    return {'pixels_per_class': {name[int(v)]: int(c) for v, c in zip(values, counts)}}


def paste_masks(masks: np.ndarray, boxes: np.ndarray, shape: tuple, threshold: float) -> np.ndarray:
    """(N, M, M) mask probabilities, each in its box of (N, 4) (x1, y1, x2, y2, image pixels) -> (N, H, W) bool for
    an image of ``shape`` (H, W): mmdet's paste (``grid_sample`` of the mask over the box, bilinear, half-pixel
    centres, zeros beyond the mask's edge) on the pixels around the box, kept where >= ``threshold``. A box
    without width or height pastes nothing."""
    h, w = shape
    out = np.zeros((len(masks), h, w), bool)
    for mask, (x0, y0, x1, y1), canvas in zip(masks.astype(np.float64), boxes.astype(np.float64), out):
        ys = np.arange(max(int(np.floor(y0)) - 1, 0), min(int(np.ceil(y1)) + 1, h))
        xs = np.arange(max(int(np.floor(x0)) - 1, 0), min(int(np.ceil(x1)) + 1, w))
        if y1 <= y0 or x1 <= x0 or not len(ys) or not len(xs):
            continue
        v = (ys + 0.5 - y0) / (y1 - y0) * mask.shape[0] - 0.5  # pixel centres in mask coordinates
        u = (xs + 0.5 - x0) / (x1 - x0) * mask.shape[1] - 0.5
        m = np.pad(mask, 1)  # a ring of zeros: every index beyond the mask reads 0
        at = lambda r, c, m=m: m[np.ix_(np.clip(r + 1, 0, m.shape[0] - 1), np.clip(c + 1, 0, m.shape[1] - 1))]  # noqa: E731
        r, c = np.floor(v).astype(int), np.floor(u).astype(int)
        fr, fc = (v - r)[:, None], (u - c)[None, :]
        value = (1 - fr) * ((1 - fc) * at(r, c) + fc * at(r, c + 1)) + fr * (
            (1 - fc) * at(r + 1, c) + fc * at(r + 1, c + 1)
        )
        canvas[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1] = value >= threshold
    return out


def detect(graph: Graph, x: np.ndarray, unpadded: tuple, original: tuple, post: dict, classes: list) -> tuple:
    """The one-graph detector on the preprocessed image: (the record, the (N, H, W) masks in the image)."""
    boxes, scores, labels, masks = graph(x, np.asarray(unpadded, np.float32))
    factor = np.asarray([unpadded[1] / original[1], unpadded[0] / original[0]] * 2, np.float32)
    boxes = boxes / factor
    record = {
        'boxes': boxes.tolist(),
        'scores': scores.tolist(),
        'labels': [classes[i] if i < len(classes) else int(i) for i in labels.tolist()],
    }
    return record, paste_masks(masks, boxes, original, post['mask_thr_binary'])


def run(directory: str, images: list, backend: str = 'onnxruntime', out_dir: str = None, threads: int = 0) -> list:
    """Predict ``images`` with the export in ``directory``; the records, also written to OUT/predictions.json."""
    with open(osp.join(directory, 'deploy.json')) as f:
        meta = json.load(f)
    task, classes = meta['task'], meta.get('classes') or []
    threads = threads or os.cpu_count() or 1
    if task == 'classification':
        graph = Graph(directory, meta, 'classifier', backend, threads)
    elif task == 'segmentation':
        graph = Graph(directory, meta, 'segmentor', backend, threads)
        test_cfg = meta.get('test_cfg') or {}
    elif task == 'detection_end2end':
        graph = Graph(directory, meta, 'detector', backend, threads)
    else:
        raise StandaloneError(
            f'{directory}: a {task!r} export needs mmdet/mmcv between its graphs (tools/deployment/infer.py runs '
            'it); export the detector with --end2end to run it here'
        )
    records = []
    for path in images:
        image = load_image(path)
        x, unpadded = preprocess(image, meta['preprocess'])
        if task == 'classification':
            record = classify(graph, x, classes)
        elif task == 'detection_end2end':
            record, masks = detect(graph, x, unpadded, image.shape[:2], meta['postprocess'], classes)
            if out_dir:
                os.makedirs(osp.join(out_dir, 'masks'), exist_ok=True)
                name = osp.splitext(osp.basename(path))[0]
                np.savez_compressed(osp.join(out_dir, 'masks', f'{name}.npz'), masks=masks)
        else:
            record = segment(graph, x, unpadded, test_cfg, image.shape[:2], classes)
        records.append({'image': path, **record})
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        with open(osp.join(out_dir, 'predictions.json'), 'w') as f:
            json.dump(records, f, indent=1)
    return records


def main(argv=None) -> int:
    here = osp.dirname(osp.abspath(__file__))
    as_run_py = osp.isfile(osp.join(here, 'deploy.json'))  # DIR/run.py: the export is this file's directory
    parser = argparse.ArgumentParser(description='Run an mmconvnext export with numpy, OpenCV and a runtime alone')
    if not as_run_py:
        parser.add_argument('directory', help='the export directory (tools/deployment/export.py --out)')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--backend', choices=('onnxruntime', 'openvino'), default='onnxruntime')
    parser.add_argument('--out-dir', help='write predictions.json here')
    parser.add_argument('--threads', type=int, default=0, help='runtime threads (default: every core)')
    args = parser.parse_args(argv)
    try:
        records = run(here if as_run_py else args.directory, args.images, args.backend, args.out_dir, args.threads)
    except (StandaloneError, OSError, KeyError) as e:
        print(f'standalone: error: {e}', file=sys.stderr)
        return 1
    print(json.dumps(records, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
