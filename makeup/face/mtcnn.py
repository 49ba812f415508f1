"""MTCNN's three stages with OpenCV doing the resampling: facenet-pytorch's `detect_face` for one image.

The networks, thresholds, box arithmetic and non-maximum suppression are facenet-pytorch's own (its helpers are
called); what differs is how the image pyramid and the candidate crops are resampled. facenet-pytorch resizes each
of them with a separate torch call on a float copy of the photo, about forty calls per photo; here each is one
`cv2.resize` (INTER_AREA, area averaging as torch's "area" mode) on the uint8 photo. On the development
faces scaled into 1 MP photos and searched on a 320 px copy, the landmarks lie 2% of the eye distance from
facenet-pytorch's on average, with no bias in any direction, and detection takes 16 ms instead of 23 (2 cores);
`makeup bench --detection` compares the quick pass with full-size detection. facenet-pytorch is pinned
(pyproject.toml), so the helpers used here do not move.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from facenet_pytorch.models.utils.detect_face import (
    batched_nms_numpy,
    bbreg,
    generateBoundingBox,
    pad,
    rerec,
)
from torchvision.ops.boxes import batched_nms

_CELL = 12  # P-net's window, in pixels of each pyramid level


def _tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """NxHxWx3 uint8 -> Nx3xHxW float, normalised as MTCNN was trained."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()
    return (tensor - 127.5) * 0.0078125


def _one_image(boxes: torch.Tensor) -> torch.Tensor:
    """The image index of each box for facenet-pytorch's batched suppression: all from the one image."""
    return torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device)


def _crops(image: np.ndarray, boxes: torch.Tensor, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The boxes' pixels, each resized to size x size (boxes clipped to the image as facenet-pytorch clips them),
    and which boxes had any pixels."""
    height, width = image.shape[:2]
    y, ey, x, ex = pad(boxes, width, height)
    crops, kept = [], []
    for k in range(len(y)):
        if ey[k] > y[k] - 1 and ex[k] > x[k] - 1:
            crops.append(cv2.resize(image[y[k] - 1:ey[k], x[k] - 1:ex[k]], (size, size), interpolation=cv2.INTER_AREA))
            kept.append(k)
    return np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8), np.asarray(kept, np.int64)


@torch.inference_mode()
def detect(image: np.ndarray, min_face: int, mtcnn, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (N, 5): x0, y0, x1, y1, score; landmarks (N, 5, 2)) of the faces of at least `min_face` pixels in
    an HxWx3 uint8 RGB image, with the networks and thresholds of a facenet-pytorch `MTCNN`."""
    pnet, rnet, onet, thresholds, factor = mtcnn.pnet, mtcnn.rnet, mtcnn.onet, mtcnn.thresholds, mtcnn.factor
    height, width = image.shape[:2]
    empty = np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)

    # Stage 1: P-net over the pyramid, from faces of `min_face` pixels up.
    scale = _CELL / min_face
    smallest_side = min(height, width) * scale
    found = []
    while smallest_side >= _CELL:
        level = cv2.resize(image, (int(width * scale + 1), int(height * scale + 1)), interpolation=cv2.INTER_AREA)
        regression, probabilities = pnet(_tensor(level[None], device))
        boxes, indices = generateBoundingBox(regression, probabilities[:, 1], scale, thresholds[0])
        found.append(boxes[batched_nms(boxes[:, :4], boxes[:, 4], indices, 0.5)])
        scale *= factor
        smallest_side *= factor
    boxes = torch.cat(found) if found else torch.zeros(0, 9, device=device)
    if len(boxes) == 0:
        return empty
    boxes = boxes[batched_nms(boxes[:, :4], boxes[:, 4], _one_image(boxes), 0.7)]
    box_width, box_height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    boxes = torch.stack([boxes[:, 0] + boxes[:, 5] * box_width, boxes[:, 1] + boxes[:, 6] * box_height,
                         boxes[:, 2] + boxes[:, 7] * box_width, boxes[:, 3] + boxes[:, 8] * box_height,
                         boxes[:, 4]], dim=1)
    boxes = rerec(boxes)

    # Stage 2: R-net on 24 px crops of the candidates.
    crops, kept = _crops(image, boxes, 24)
    if len(kept) == 0:
        return empty
    boxes = boxes[torch.from_numpy(kept).to(boxes.device)]
    regression, scores = rnet(_tensor(crops, device))
    score = scores[:, 1]
    passed = score > thresholds[1]
    boxes = torch.cat([boxes[passed, :4], score[passed, None]], dim=1)
    regression = regression[passed]
    pick = batched_nms(boxes[:, :4], boxes[:, 4], _one_image(boxes), 0.7)
    boxes = rerec(bbreg(boxes[pick], regression[pick]))
    if len(boxes) == 0:
        return empty

    # Stage 3: O-net on 48 px crops: final boxes, scores and the five landmarks.
    crops, kept = _crops(image, boxes, 48)
    if len(kept) == 0:
        return empty
    boxes = boxes[torch.from_numpy(kept).to(boxes.device)]
    regression, points, scores = onet(_tensor(crops, device))
    score = scores[:, 1]
    passed = score > thresholds[2]
    boxes = torch.cat([boxes[passed, :4], score[passed, None]], dim=1)
    points, regression = points[passed], regression[passed]
    box_width = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    box_height = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    points = torch.stack([box_width * points[:, :5] + boxes[:, 0:1] - 1,
                          box_height * points[:, 5:10] + boxes[:, 1:2] - 1], dim=2)
    boxes = bbreg(boxes, regression)
    pick = batched_nms_numpy(boxes[:, :4], boxes[:, 4], _one_image(boxes), 0.7, "Min")
    return boxes[pick].cpu().numpy().astype(np.float32), points[pick].cpu().numpy().astype(np.float32)
