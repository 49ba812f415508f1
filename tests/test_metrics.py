"""Metric functions against hand-computed values, published test data and scikit-image/scipy as references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from makeup.evaluate import metrics

# Sharma, Wu and Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes, supplementary test
# data, and mathematical observations", Table 1: L1 a1 b1 L2 a2 b2 and the expected CIEDE2000 (all 34 pairs).
SHARMA_PAIRS = """
50.0000 2.6772 -79.7751 50.0000 0.0000 -82.7485 2.0425
50.0000 3.1571 -77.2803 50.0000 0.0000 -82.7485 2.8615
50.0000 2.8361 -74.0200 50.0000 0.0000 -82.7485 3.4412
50.0000 -1.3802 -84.2814 50.0000 0.0000 -82.7485 1.0000
50.0000 -1.1848 -84.8006 50.0000 0.0000 -82.7485 1.0000
50.0000 -0.9009 -85.5211 50.0000 0.0000 -82.7485 1.0000
50.0000 0.0000 0.0000 50.0000 -1.0000 2.0000 2.3669
50.0000 -1.0000 2.0000 50.0000 0.0000 0.0000 2.3669
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0009 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0010 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0011 7.2195
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0012 7.2195
50.0000 -0.0010 2.4900 50.0000 0.0009 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0010 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0011 -2.4900 4.7461
50.0000 2.5000 0.0000 50.0000 0.0000 -2.5000 4.3065
50.0000 2.5000 0.0000 73.0000 25.0000 -18.0000 27.1492
50.0000 2.5000 0.0000 61.0000 -5.0000 29.0000 22.8977
50.0000 2.5000 0.0000 56.0000 -27.0000 -3.0000 31.9030
50.0000 2.5000 0.0000 58.0000 24.0000 15.0000 19.4535
50.0000 2.5000 0.0000 50.0000 3.1736 0.5854 1.0000
50.0000 2.5000 0.0000 50.0000 3.2972 0.0000 1.0000
50.0000 2.5000 0.0000 50.0000 1.8634 0.5757 1.0000
50.0000 2.5000 0.0000 50.0000 3.2592 0.3350 1.0000
60.2574 -34.0099 36.2677 60.4626 -34.1751 39.4387 1.2644
63.0109 -31.0961 -5.8663 62.8187 -29.7946 -4.0864 1.2630
61.2901 3.7196 -5.3901 61.4292 2.2480 -4.9620 1.8731
35.0831 -44.1164 3.7933 35.0232 -40.0716 1.5901 1.8645
22.7233 20.0904 -46.6940 23.0331 14.9730 -42.5619 2.0373
36.4612 47.8580 18.3852 36.2715 50.5065 21.2231 1.4146
90.8027 -2.0831 1.4410 91.1528 -1.6435 0.0447 1.4441
90.9257 -0.5406 -0.9208 88.6381 -0.8985 -0.7239 1.5381
6.7747 -0.2908 -2.4247 5.8714 -0.0985 -2.2286 0.6377
2.0776 0.0795 -1.1350 0.9033 -0.0636 -0.5514 0.9082
"""


def _sharma_table() -> np.ndarray:
    return np.array([[float(value) for value in line.split()] for line in SHARMA_PAIRS.strip().splitlines()])


def _solid(colour: tuple[int, int, int], size: int = 8) -> np.ndarray:
    return np.broadcast_to(np.array(colour, dtype=np.uint8), (size, size, 3)).copy()


# --- CIEDE2000 ---------------------------------------------------------------------------------------------------


def test_ciede2000_matches_all_34_published_pairs_in_both_orders():
    table = _sharma_table()
    assert table.shape == (34, 7)
    forward = metrics.ciede2000(table[:, 0:3], table[:, 3:6])
    backward = metrics.ciede2000(table[:, 3:6], table[:, 0:3])
    np.testing.assert_allclose(forward, table[:, 6], atol=5e-5)
    np.testing.assert_allclose(backward, table[:, 6], atol=5e-5)


def test_ciede2000_is_zero_for_equal_colours_and_matches_scikit_image_on_a_photo(astronaut):
    from skimage import color

    lab = color.rgb2lab(astronaut[::8, ::8])
    assert np.all(metrics.ciede2000(lab, lab) == 0.0)
    shifted = color.rgb2lab(np.roll(astronaut[::8, ::8], 3, axis=1))
    np.testing.assert_allclose(metrics.ciede2000(lab, shifted), color.deltaE_ciede2000(lab, shifted), atol=1e-9)


def test_rgb_to_lab_on_known_colours_and_against_scikit_image(astronaut):
    from skimage import color

    white, black = metrics.rgb_to_lab(np.array([255, 255, 255], np.uint8)), metrics.rgb_to_lab(np.zeros(3, np.uint8))
    np.testing.assert_allclose(white, [100.0, 0.0, 0.0], atol=0.01)
    np.testing.assert_allclose(black, [0.0, 0.0, 0.0], atol=1e-9)
    red = metrics.rgb_to_lab(np.array([255, 0, 0], np.uint8))
    np.testing.assert_allclose(red, [53.24, 80.09, 67.20], atol=0.01)
    np.testing.assert_allclose(metrics.rgb_to_lab(astronaut), color.rgb2lab(astronaut), atol=1e-9)


def test_region_ciede2000_counts_only_pixels_inside_the_mask():
    output, target = _solid((200, 40, 60)), _solid((200, 40, 60))
    mask = np.zeros((8, 8), np.float32)
    mask[2:5, 2:5] = 1.0
    output[6:, 6:] = (0, 255, 0)  # a change outside the mask must not count
    assert metrics.region_ciede2000(output, target, mask) == 0.0
    output[2:5, 2:5] = (180, 40, 60)
    expected = metrics.ciede2000(metrics.rgb_to_lab(np.array([180, 40, 60], np.uint8)),
                                 metrics.rgb_to_lab(np.array([200, 40, 60], np.uint8)))
    assert metrics.region_ciede2000(output, target, mask) == pytest.approx(float(expected))
    assert math.isnan(metrics.region_ciede2000(output, target, np.zeros((8, 8))))


# --- PSNR ----------------------------------------------------------------------------------------------------------


def test_psnr_whole_and_masked_against_hand_computed_values():
    target = np.full((2, 2, 3), 100, np.uint8)
    output = target.copy()
    output[0, 0] = 110  # one pixel of four off by 10 on every channel: MSE 25 over the image, 100 on that pixel
    assert metrics.psnr(output, target) == pytest.approx(10 * math.log10(255**2 / 25))  # 34.151 dB
    assert metrics.psnr(output, target) == pytest.approx(34.1514, abs=1e-4)
    only_changed = np.array([[1, 0], [0, 0]], np.float32)
    assert metrics.psnr(output, target, only_changed) == pytest.approx(10 * math.log10(255**2 / 100))
    assert metrics.psnr(output, target, 1 - only_changed) == metrics.MAX_PSNR
    assert math.isnan(metrics.psnr(output, target, np.zeros((2, 2))))


def test_psnr_matches_scikit_image(astronaut):
    from skimage.metrics import peak_signal_noise_ratio

    noisy = np.clip(astronaut.astype(int) + np.random.default_rng(0).integers(-15, 16, astronaut.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    assert metrics.psnr(noisy, astronaut) == pytest.approx(peak_signal_noise_ratio(astronaut, noisy, data_range=255))


def test_mask_of_the_wrong_size_is_refused():
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="mask shape"):
        metrics.psnr(image, image, np.ones((5, 5)))
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(image, np.zeros((4, 5, 3), np.uint8))


# --- SSIM ----------------------------------------------------------------------------------------------------------


def test_ssim_of_flat_images_equals_the_luminance_term():
    # Flat images have no variance, so SSIM reduces to (2 m1 m2 + C1) / (m1^2 + m2^2 + C1), C1 = (0.01 * 255)^2.
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 150 + c1) / (100**2 + 150**2 + c1)  # 0.92310
    assert metrics.ssim(_solid((100,) * 3, 32), _solid((150,) * 3, 32)) == pytest.approx(expected)
    assert expected == pytest.approx(0.92310, abs=1e-5)
    assert metrics.ssim(_solid((100,) * 3, 32), _solid((100,) * 3, 32)) == pytest.approx(1.0)


def test_ssim_matches_scikit_image_and_masked_ssim_sees_only_its_region(astronaut):
    from skimage.metrics import structural_similarity

    noisy = np.clip(astronaut.astype(int) + np.random.default_rng(1).integers(-25, 26, astronaut.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    reference = structural_similarity(
        astronaut, noisy, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert metrics.ssim(noisy, astronaut) == pytest.approx(reference, abs=1e-9)

    half = np.zeros(astronaut.shape[:2], np.float32)
    half[:, :256] = 1.0
    left_noisy = astronaut.copy()
    left_noisy[:, 300:] = noisy[:, 300:]  # noise only well right of the mask (beyond the 11-px window)
    assert metrics.ssim(left_noisy, astronaut, half) == pytest.approx(1.0)
    assert metrics.ssim(left_noisy, astronaut, 1 - half) < 0.9


# --- histogram (earth mover's) distance ------------------------------------------------------------------------------


def test_wasserstein_1d_hand_computed_and_against_scipy():
    from scipy.stats import wasserstein_distance

    assert metrics.wasserstein_1d([0, 1, 3], [5, 6, 8]) == pytest.approx(5.0)  # a pure shift by 5
    assert metrics.wasserstein_1d([0], [0, 10]) == pytest.approx(5.0)  # half the mass moves 10
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=200), rng.normal(1.0, 2.0, size=77)
    assert metrics.wasserstein_1d(u, v) == pytest.approx(wasserstein_distance(u, v))
    assert math.isnan(metrics.wasserstein_1d([], [1.0]))


def test_region_histogram_distance_between_flat_regions_is_the_mean_lab_gap():
    output, reference = _solid((180, 60, 70), 16), _solid((120, 20, 40), 12)
    out_mask, ref_mask = np.zeros((16, 16)), np.zeros((12, 12))
    out_mask[4:10, 4:12], ref_mask[1:4, 2:5] = 1, 1  # different sizes and places: the faces are not aligned
    first, second = np.array([180, 60, 70], np.uint8), np.array([120, 20, 40], np.uint8)
    gap = np.abs(metrics.rgb_to_lab(first) - metrics.rgb_to_lab(second))
    assert metrics.region_histogram_distance(output, out_mask, reference, ref_mask) == pytest.approx(gap.mean())
    assert metrics.region_histogram_distance(output, out_mask, output, np.ones((16, 16))) == pytest.approx(0.0)
    assert math.isnan(metrics.region_histogram_distance(output, np.zeros((16, 16)), reference, ref_mask))
