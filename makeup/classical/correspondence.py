"""Dense correspondence between two aligned faces: a piecewise-affine warp through their FaceMesh landmarks.

`warp_to(image, from_points, to_points)` moves a face onto another's geometry: every pixel of the destination
belongs to one triangle of a triangulation of the destination's landmarks (the first 468 FaceMesh points, the
iris points being redundant with the eye contour, plus 8 points on the crop border so the whole crop is
covered), and samples the image at the same barycentric position in the matching source triangle. The per-pixel
maps are built in one vectorised pass and applied with a single `cv2.remap`.

The triangulation is the Delaunay triangulation of the *destination* points, so destination triangles never
overlap and each destination pixel has exactly one source position, whatever the pose; a triangulation fixed in
advance folds over itself on turned faces. Faces without landmarks (caches prepared from label maps) fall back on
the similarity alignment the crops already share: the warp is the identity.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

MESH_POINTS = 468  # FaceMesh's face points; 468..477 are the irises


def border_points(size: tuple[int, int]) -> np.ndarray:
    """The crop's 4 corners and 4 edge midpoints, (8, 2) float32 (x, y): fixed points of every warp."""
    height, width = size
    right, bottom = width - 1.0, height - 1.0
    return np.array(
        [[0, 0], [right / 2, 0], [right, 0], [right, bottom / 2], [right, bottom], [right / 2, bottom],
         [0, bottom], [0, bottom / 2]],
        dtype=np.float32,
    )


def control_points(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(476, 2) float32: the 468 face points of `landmarks` (clipped to the crop) and the 8 border points."""
    points = np.asarray(landmarks, dtype=np.float32)[:MESH_POINTS]
    if points.shape != (MESH_POINTS, 2):
        raise ValueError(f"expected at least {MESH_POINTS} FaceMesh landmarks (N, 2), got {np.shape(landmarks)}")
    height, width = size
    points = np.clip(points, [0.0, 0.0], [width - 1.0, height - 1.0])
    return np.concatenate([points, border_points(size)])


def delaunay(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, 3) int32 vertex indices of the Delaunay triangulation of `points` (all inside the crop)."""
    height, width = size
    subdiv = cv2.Subdiv2D((-1, -1, width + 2, height + 2))
    points = np.ascontiguousarray(points, dtype=np.float32)
    subdiv.insert(points.tolist())  # one call: per-point inserts cost more than the rest
    # Subdiv2D returns triangles by their corners' coordinates: map those back to point indices (the first of
    # any coincident points) by the bits of each (x, y) pair, and drop triangles that touch Subdiv2D's own
    # outer vertices.
    keys, first = np.unique(points.view(np.uint64).ravel(), return_index=True)
    corners = np.ascontiguousarray(subdiv.getTriangleList(), dtype=np.float32).reshape(-1, 3, 2)
    corners = corners.view(np.uint64).reshape(-1, 3)
    slots = np.minimum(np.searchsorted(keys, corners), len(keys) - 1)
    known = (keys[slots] == corners).all(axis=1)
    return first[slots[known]].astype(np.int32).reshape(-1, 3)


@functools.lru_cache(maxsize=4)
def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) float32 coordinates of every pixel, read-only (shared by every warp of that size)."""
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    grid_x.flags.writeable = grid_y.flags.writeable = False
    return grid_x, grid_y


def warp_maps(from_points: np.ndarray, to_points: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y) float32 HxW for `cv2.remap`: where in the `from` face each pixel of the `to` face samples.

    `from_points` and `to_points` are matching (N, 2) control points (see `control_points`).
    """
    height, width = size
    triangles = delaunay(to_points, size)
    # Which triangle each destination pixel lies in (-1: none, kept as the identity).
    owner = np.full((height, width), -1, np.int32)
    for index, corners in enumerate(np.round(to_points * 16).astype(np.int32)[triangles]):  # 1/16 px vertices
        cv2.fillConvexPoly(owner, corners, index, cv2.LINE_8, 4)
    # destination -> source, one row per coefficient: gathering them one at a time is faster than all at once
    coefficients = np.ascontiguousarray(_affines(to_points[triangles], from_points[triangles]).reshape(-1, 6).T)
    grid_x, grid_y = _pixel_grid(height, width)
    covered = owner >= 0
    owner_or_0 = np.maximum(owner, 0)
    maps = []
    for row in (0, 3):
        a, b, c = (np.take(coefficients[row + k], owner_or_0) for k in range(3))
        a *= grid_x
        b *= grid_y
        a += b
        a += c
        maps.append(a if covered.all() else np.where(covered, a, grid_x if row == 0 else grid_y))
    return maps[0], maps[1]


def _affines(destination: np.ndarray, source: np.ndarray) -> np.ndarray:
    """(T, 2, 3) affine maps taking each destination triangle (T, 3, 2) onto its source triangle."""
    destination, source = destination.astype(np.float64), source.astype(np.float64)
    # In closed form: the 2x2 linear part maps the destination's edge vectors onto the source's.
    edges_to = np.stack([destination[:, 1] - destination[:, 0], destination[:, 2] - destination[:, 0]], axis=2)
    edges_from = np.stack([source[:, 1] - source[:, 0], source[:, 2] - source[:, 0]], axis=2)
    a, b, c, d = edges_to[:, 0, 0], edges_to[:, 0, 1], edges_to[:, 1, 0], edges_to[:, 1, 1]
    determinant = a * d - b * c
    # Degenerate (zero-area) triangles own no pixels: any finite map will do for them.
    degenerate = np.abs(determinant) < 1e-9
    determinant = np.where(degenerate, 1.0, determinant)
    inverse = np.stack([np.stack([d, -b], axis=1), np.stack([-c, a], axis=1)], axis=1) / determinant[:, None, None]
    linear = edges_from @ inverse
    linear[degenerate] = np.eye(2)
    offset = source[:, 0] - np.einsum("tij,tj->ti", linear, destination[:, 0])
    return np.concatenate([linear, offset[..., None]], axis=2).astype(np.float32)


class Correspondence:
    """Where each pixel of the `to` face samples the `from` face: built once per pair, applied to any number of
    arrays (the image, its masks). Without landmarks on either side it is the identity."""

    def __init__(self, from_landmarks: np.ndarray | None, to_landmarks: np.ndarray | None, size: tuple[int, int]):
        self.size = (int(size[0]), int(size[1]))
        self.maps = None
        if from_landmarks is not None and to_landmarks is not None:
            self.maps = warp_maps(control_points(from_landmarks, self.size), control_points(to_landmarks, self.size),
                                  self.size)

    def warp(self, array: np.ndarray, interpolation: int = cv2.INTER_LINEAR,
             box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """`array` (HxW or HxWxC, the crop's size) moved from the `from` face's geometry onto the `to` face's.

        box: (y0, y1, x0, x1) of the `to` crop: only that part of the result (the same pixels as the whole warp's
        there, for a fraction of the cost)."""
        array = np.asarray(array)
        if array.shape[:2] != self.size:
            raise ValueError(f"expected an array of the crop's size {self.size}, got shape {array.shape}")
        y0, y1, x0, x1 = box if box is not None else (0, self.size[0], 0, self.size[1])
        if self.maps is None:
            return array[y0:y1, x0:x1].copy()
        map_x, map_y = (np.ascontiguousarray(part[y0:y1, x0:x1]) for part in self.maps)
        return cv2.remap(array, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def warp_to(image: np.ndarray, from_landmarks: np.ndarray | None, to_landmarks: np.ndarray | None,
            interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """`image` (a face with landmarks `from_landmarks`) moved onto the geometry of `to_landmarks`, same size.

    Works on any HxW or HxWxC array (images, masks). Without landmarks on either side the image is returned as it
    is: aligned crops already share a similarity alignment.
    """
    array = np.asarray(image)
    return Correspondence(from_landmarks, to_landmarks, array.shape[:2]).warp(array, interpolation)
