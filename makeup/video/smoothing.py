"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) for landmark arrays.

A low-pass filter whose cut-off rises with speed: on a still face it averages away the jitter of the detector
and of FaceMesh (makeup that shimmers), on a moving face it lets the motion through almost at once (makeup that
lags). `min_cutoff` (Hz) sets how smooth a still face is, `beta` how fast the cut-off opens with speed (pixels
per second), `derivative_cutoff` (Hz) smooths the speed estimate itself.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: float, interval: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / interval)


class OneEuroFilter:
    """Filters a stream of same-shaped float arrays (e.g. (N, 2) landmarks), one call per frame."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, derivative_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or derivative_cutoff <= 0 or beta < 0:
            raise ValueError("min_cutoff and derivative_cutoff must be positive, beta at least 0")
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.derivative_cutoff = derivative_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next value passes unfiltered (a face found again after being lost)."""
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    def __call__(self, value: np.ndarray, interval: float) -> np.ndarray:
        """The filtered `value`, `interval` seconds after the previous one."""
        value = np.asarray(value, dtype=np.float64)
        if self._value is None or self._value.shape != value.shape:
            self._value, self._speed = value.copy(), np.zeros_like(value)
            return value.astype(np.float32)
        interval = max(float(interval), 1e-6)
        speed = (value - self._value) / interval
        self._speed = self._speed + _alpha(self.derivative_cutoff, interval) * (speed - self._speed)
        # one cut-off per point, from the speed of the point itself (norm over its coordinates)
        magnitude = np.linalg.norm(self._speed.reshape(self._speed.shape[0], -1), axis=1) if value.ndim > 1 else \
            np.abs(self._speed)
        cutoff = self.min_cutoff + self.beta * magnitude
        tau = 1.0 / (2.0 * np.pi * cutoff)
        alpha = (1.0 / (1.0 + tau / interval)).reshape(-1, *([1] * (value.ndim - 1))) if value.ndim > 1 else \
            1.0 / (1.0 + tau / interval)
        self._value = self._value + alpha * (value - self._value)
        return self._value.astype(np.float32)
