"""Image-quality and colour metrics for makeup transfer, on HxWx3 uint8 RGB images and float {0,1} masks.

Every metric takes an optional region mask; a region with no pixels gives NaN (the region is absent from that
face), so averages over a data set use `numpy.nanmean`. Needs only numpy and OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

# Identical images have infinite PSNR; capping keeps tables, averages and JSON finite.
MAX_PSNR = 100.0

# SSIM constants of Wang et al. 2004 as scikit-image runs them with gaussian_weights=True.
_SSIM_SIGMA = 1.5
_SSIM_WINDOW = 11
_SSIM_K1, _SSIM_K2 = 0.01, 0.03

# sRGB (D65) -> XYZ, and the D65 white point used to normalise XYZ before Lab.
_RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
_HUE_TOLERANCE = 1e-9  # degrees


def _as_float_image(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {array.shape}")
    return array.astype(np.float64)


def _as_mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    array = np.asarray(mask)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.shape != tuple(shape[:2]):
        raise ValueError(f"mask shape {array.shape} does not match the image size {tuple(shape[:2])}")
    return array > 0.5


def _check_pair(output: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first, second = _as_float_image(output), _as_float_image(target)
    if first.shape != second.shape:
        raise ValueError(f"images differ in shape: {first.shape} vs {second.shape}")
    return first, second


def psnr(output: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over the whole image, or over the pixels inside `mask` (all channels).

    Identical images (or regions) score `MAX_PSNR`; an empty mask gives NaN.
    """
    first, second = _check_pair(output, target)
    inside = _as_mask(mask, first.shape)
    squared = (first - second) ** 2
    if inside is not None:
        if not inside.any():
            return float("nan")
        squared = squared[inside]
    mse = float(squared.mean())
    if mse == 0.0:
        return MAX_PSNR
    return float(min(MAX_PSNR, 10.0 * np.log10(data_range**2 / mse)))


def _gaussian_blur(channel: np.ndarray) -> np.ndarray:
    # BORDER_REFLECT (abc|cba) is scipy.ndimage's "reflect", which scikit-image's SSIM uses.
    return cv2.GaussianBlur(
        channel, (_SSIM_WINDOW, _SSIM_WINDOW), _SSIM_SIGMA, sigmaY=_SSIM_SIGMA, borderType=cv2.BORDER_REFLECT
    )


def ssim_map(output: np.ndarray, target: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """Per-pixel SSIM (Gaussian window, sigma 1.5), averaged over the colour channels: an HxW float array."""
    first, second = _check_pair(output, target)
    c1, c2 = (_SSIM_K1 * data_range) ** 2, (_SSIM_K2 * data_range) ** 2
    maps = []
    for channel in range(first.shape[-1]):
        x, y = first[..., channel], second[..., channel]
        mu_x, mu_y = _gaussian_blur(x), _gaussian_blur(y)
        var_x = _gaussian_blur(x * x) - mu_x * mu_x
        var_y = _gaussian_blur(y * y) - mu_y * mu_y
        cov_xy = _gaussian_blur(x * y) - mu_x * mu_y
        numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
        denominator = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
        maps.append(numerator / denominator)
    return np.mean(maps, axis=0)


def ssim(output: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None, data_range: float = 255.0) -> float:
    """Structural similarity, averaged over the image or over the pixels inside `mask`.

    The window's half-width is left out at the borders, as scikit-image does, so the whole-image value equals
    `skimage.metrics.structural_similarity(..., gaussian_weights=True, use_sample_covariance=False)`.
    """
    full = ssim_map(output, target, data_range)
    inside = _as_mask(mask, np.shape(output))
    valid = np.zeros(full.shape, dtype=bool)
    pad = (_SSIM_WINDOW - 1) // 2
    valid[pad:-pad, pad:-pad] = True
    if inside is not None:
        valid &= inside
    if not valid.any():
        return float("nan")
    return float(full[valid].mean())


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """sRGB (uint8, or float in [0, 1]) -> CIE L*a*b* under D65, float64 (same as `skimage.color.rgb2lab`)."""
    array = np.asarray(image)
    rgb = array.astype(np.float64) / 255.0 if array.dtype == np.uint8 else array.astype(np.float64)
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = linear @ _RGB_TO_XYZ.T / _D65_WHITE
    cube = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lightness = 116.0 * cube[..., 1] - 16.0
    a = 500.0 * (cube[..., 0] - cube[..., 1])
    b = 200.0 * (cube[..., 1] - cube[..., 2])
    return np.stack([lightness, a, b], axis=-1)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray, k_l: float = 1.0, k_c: float = 1.0, k_h: float = 1.0) -> np.ndarray:
    """CIEDE2000 colour difference between Lab colours (`...x3` arrays), element-wise.

    Follows Sharma, Wu and Dalal (2005), including their notes on the hue mean and difference when a chroma is 0.
    """
    lab1, lab2 = np.asarray(lab1, dtype=np.float64), np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    chroma_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0
    g = 0.5 * (1.0 - np.sqrt(chroma_mean**7 / (chroma_mean**7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    chroma_product = c1p * c2p
    achromatic = chroma_product == 0

    delta_l = l2 - l1
    delta_c = c2p - c1p
    # Hues exactly 180 degrees apart (Sharma's pairs 13 and 14) come out a few ulps over 180 in floating point; the
    # tolerance keeps them on the "<= 180" side the formula puts them on.
    half_turn = 180.0 + _HUE_TOLERANCE
    delta_h_angle = h2p - h1p
    delta_h_angle = np.where(delta_h_angle > half_turn, delta_h_angle - 360.0, delta_h_angle)
    delta_h_angle = np.where(delta_h_angle < -half_turn, delta_h_angle + 360.0, delta_h_angle)
    delta_h_angle = np.where(achromatic, 0.0, delta_h_angle)
    delta_h = 2.0 * np.sqrt(chroma_product) * np.sin(np.radians(delta_h_angle) / 2.0)

    l_mean = (l1 + l2) / 2.0
    c_mean = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    wrapped_mean = np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0)
    h_mean = np.where(np.abs(h1p - h2p) <= half_turn, h_sum / 2.0, wrapped_mean)
    h_mean = np.where(achromatic, h_sum, h_mean)

    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_mean - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_mean))
        + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0))
    )
    delta_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    r_c = 2.0 * np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7))
    s_l = 1.0 + 0.015 * (l_mean - 50.0) ** 2 / np.sqrt(20.0 + (l_mean - 50.0) ** 2)
    s_c = 1.0 + 0.045 * c_mean
    s_h = 1.0 + 0.015 * c_mean * t
    r_t = -np.sin(np.radians(2.0 * delta_theta)) * r_c

    term_l = delta_l / (k_l * s_l)
    term_c = delta_c / (k_c * s_c)
    term_h = delta_h / (k_h * s_h)
    return np.sqrt(term_l**2 + term_c**2 + term_h**2 + r_t * term_c * term_h)


def region_ciede2000(output: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean per-pixel CIEDE2000 between two aligned images over the pixels inside `mask` (NaN if it is empty)."""
    first, second = _check_pair(output, target)
    inside = _as_mask(mask, first.shape)
    if not inside.any():
        return float("nan")
    return float(ciede2000(rgb_to_lab(np.asarray(output)[inside]), rgb_to_lab(np.asarray(target)[inside])).mean())


def wasserstein_1d(u: np.ndarray, v: np.ndarray) -> float:
    """Earth mover's distance between two 1-D samples of any sizes: the area between their empirical CDFs."""
    u, v = np.sort(np.ravel(u).astype(np.float64)), np.sort(np.ravel(v).astype(np.float64))
    if u.size == 0 or v.size == 0:
        return float("nan")
    values = np.sort(np.concatenate([u, v]))
    widths = np.diff(values)
    u_cdf = np.searchsorted(u, values[:-1], side="right") / u.size
    v_cdf = np.searchsorted(v, values[:-1], side="right") / v.size
    return float(np.sum(np.abs(u_cdf - v_cdf) * widths))


def region_histogram_distance(
    output: np.ndarray, output_mask: np.ndarray, reference: np.ndarray, reference_mask: np.ndarray
) -> float:
    """How far a region's colours in `output` are from the same region in `reference`, for unaligned faces.

    The earth mover's distance between the two pixel distributions on each Lab channel, averaged over L, a and b
    (in Lab units: 0 means the same colour distribution). NaN when either region is empty.
    """
    out_inside = _as_mask(output_mask, np.shape(output))
    ref_inside = _as_mask(reference_mask, np.shape(reference))
    if not out_inside.any() or not ref_inside.any():
        return float("nan")
    out_lab = rgb_to_lab(np.asarray(output)[out_inside])
    ref_lab = rgb_to_lab(np.asarray(reference)[ref_inside])
    return float(np.mean([wasserstein_1d(out_lab[:, channel], ref_lab[:, channel]) for channel in range(3)]))
