"""Solutions to the exercises of lesson 03, "Occlusion sensitivity" (instructor side)."""

import numpy as np


def occlusion_map(model, image: np.ndarray, target: int, patch: int, stride: int) -> np.ndarray:
    """Mean drop of the target's score over the grey squares covering each pixel, (H, W)."""
    height, width = image.shape[:2]

    def corners(size):
        starts = list(range(0, size - patch + 1, stride))
        return starts if starts[-1] == size - patch else [*starts, size - patch]

    boxes = np.zeros((0, height, width), np.float32)
    for y in corners(height):
        row = np.zeros((len(corners(width)), height, width), np.float32)
        for k, x in enumerate(corners(width)):
            row[k, y:y + patch, x:x + patch] = 1.0
        boxes = np.concatenate([boxes, row])
    occluded = image[None] * (1 - boxes[..., None]) + 0.5 * boxes[..., None]
    scores = np.asarray(model(np.concatenate([image[None], occluded]).astype(np.float32)))
    drops = scores[0, target] - scores[1:, target]
    return np.tensordot(drops, boxes, axes=1) / boxes.sum(axis=0)
