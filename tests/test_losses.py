"""Loss functions on hand-made tensors; the histogram matching against scikit-image on masked pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from makeup.losses import (
    BackboneError,
    PerceptualLoss,
    TinyRandomBackbone,
    cycle_loss,
    histogram_loss,
    identity_loss,
    load_vgg16_features,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    match_histograms_masked,
    paired_l1_loss,
    paired_l2_loss,
    preservation_loss,
)
from makeup.losses.perceptual import VGG16_TO_RELU4_1

torch.set_num_threads(1)


def _levels(images: torch.Tensor) -> np.ndarray:
    return ((images + 1) * 127.5).round().clamp(0, 255).numpy().astype(np.uint8)


def test_lsgan_losses_on_hand_made_scores():
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert lsgan_discriminator_loss(ones, zeros).item() == 0.0
    assert lsgan_discriminator_loss(zeros, ones).item() == pytest.approx(1.0)  # 0.5 * (1 + 1)
    assert lsgan_generator_loss(zeros).item() == pytest.approx(1.0)
    assert lsgan_generator_loss(torch.full((1, 1, 2, 2), 0.5)).item() == pytest.approx(0.25)
    # per-sample weights: only the first sample's real score counts (it is perfect), the second's is ignored
    real = torch.stack([torch.ones(1, 3, 3), torch.zeros(1, 3, 3)])
    assert lsgan_discriminator_loss(real, zeros, real_weights=torch.tensor([1.0, 0.0])).item() == 0.0
    assert lsgan_discriminator_loss(real, zeros, real_weights=torch.tensor([0.0, 0.0])).item() == 0.0


def test_reconstruction_losses_on_hand_made_images():
    image = torch.zeros(2, 3, 4, 4)
    assert cycle_loss(image + 0.5, image).item() == pytest.approx(0.5)
    assert identity_loss(image - 0.25, image).item() == pytest.approx(0.25)
    output = torch.stack([torch.full((3, 4, 4), 0.2), torch.full((3, 4, 4), 0.9)])
    target = torch.zeros(2, 3, 4, 4)  # the second sample has no ground truth: its zeros must not count
    assert paired_l1_loss(output, target, torch.tensor([True, False])).item() == pytest.approx(0.2)
    assert paired_l1_loss(output, target, torch.tensor([False, False])).item() == 0.0
    weights = torch.ones(2, 1, 4, 4)
    weights[:, :, :2] = 3.0  # half the pixels count three times: mean weight 2
    assert paired_l1_loss(output, target, torch.tensor([True, False]), weights).item() == pytest.approx(0.4)
    assert paired_l2_loss(output, target, torch.tensor([True, False])).item() == pytest.approx(0.04)
    assert paired_l2_loss(output, target, torch.tensor([True, False]), weights).item() == pytest.approx(0.08)
    assert paired_l2_loss(output, target, torch.tensor([False, False])).item() == 0.0


def test_paired_term_weighs_lips_eye_shadow_and_the_untouched_pixels_and_squares_for_l2():
    from makeup.losses import GeneratorStep, PairedTerm

    target = torch.zeros(1, 3, 4, 4)
    masks = torch.zeros(1, 4, 4, 4)
    masks[:, 0, 0, :] = 1.0  # lips: row 0
    masks[:, 1, 1, :] = 1.0  # skin: row 1, no extra weight
    masks[:, 3, 2, :2] = 1.0  # right eye shadow: half of row 2
    batch = {"target": target, "has_target": torch.tensor([True]), "source_masks": masks, "kind": ["synthetic"]}
    transferred = torch.full((1, 3, 4, 4), 0.5)
    step = GeneratorStep(batch, transferred, transferred, {}, None, {})
    assert PairedTerm(1.0)(step).item() == pytest.approx(0.5)
    # 16 pixels, 6 of them (lips and the eye shadow) weigh 1 + 4: mean weight (10 + 30) / 16 = 2.5
    assert PairedTerm(1.0, region_weight=4.0)(step).item() == pytest.approx(0.5 * 2.5)
    squared = PairedTerm(1.0, region_weight=4.0, distance="l2")
    assert squared.name == "paired_l2" and PairedTerm(1.0).name == "paired_l1"
    assert squared(step).item() == pytest.approx(0.25 * 2.5)
    # the 6 pixels outside every mask (rows 2 and 3 less the eye shadow) weigh 1 + 2: (10 + 18) / 16 = 1.75
    assert PairedTerm(1.0, outside_weight=2.0)(step).item() == pytest.approx(0.5 * 1.75)
    # the 4 lip pixels alone weigh 1 + 6: (12 + 28) / 16 = 2.5; on top of the region weight (1 + 4 + 6 on the lips,
    # 1 + 4 on the eye shadow): (44 + 10 + 10) / 16 = 4
    assert PairedTerm(1.0, lips_weight=6.0)(step).item() == pytest.approx(0.5 * 2.5)
    assert PairedTerm(1.0, region_weight=4.0, lips_weight=6.0)(step).item() == pytest.approx(0.5 * 4.0)
    with pytest.raises(ValueError, match="paired distance"):
        PairedTerm(1.0, distance="huber")


def test_preservation_loss_counts_real_samples_outside_the_makeup_masks_only():
    image = torch.zeros(2, 3, 4, 4)
    output = image.clone()
    output[:, :, 0, 0] = 1.0  # inside the lips mask: makeup may change it
    output[:, :, 3, 3] = 0.6  # outside every mask: should have been kept
    masks = torch.zeros(2, 4, 4, 4)
    masks[:, 0, 0, 0] = 1.0
    real_first = torch.tensor([1.0, 0.0])
    assert preservation_loss(output, image, masks, real_first).item() == pytest.approx(0.6 / 15)
    output[1] = 1.0  # the second sample is synthetic: its changes do not count
    assert preservation_loss(output, image, masks, real_first).item() == pytest.approx(0.6 / 15)
    assert preservation_loss(output, image, masks, torch.zeros(2)).item() == 0.0


def test_histogram_matching_equals_skimage_on_masked_pixels():
    from skimage.exposure import match_histograms

    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 24, 20, generator=generator) * 2 - 1
    templates = torch.rand(2, 3, 24, 20, generator=generator) ** 3 * 1.6 - 0.7  # a differently shaped histogram
    image_masks = (torch.rand(2, 4, 24, 20, generator=generator) > 0.6).float()
    template_masks = (torch.rand(2, 4, 24, 20, generator=generator) > 0.3).float()
    matched = match_histograms_masked(images, image_masks, templates, template_masks)
    assert matched.shape == (2, 4, 3, 24, 20)
    for b in range(2):
        for r in range(4):
            inside, template_inside = image_masks[b, r].bool(), template_masks[b, r].bool()
            for c in range(3):
                source_pixels = _levels(images)[b, c][inside.numpy()]
                expected = match_histograms(source_pixels, _levels(templates)[b, c][template_inside.numpy()])
                np.testing.assert_allclose(matched[b, r, c][inside].numpy(), expected, atol=1e-3)


def _region_batch():
    generator = torch.Generator().manual_seed(1)
    output = (torch.rand(1, 3, 16, 16, generator=generator) * 2 - 1).requires_grad_(True)
    reference = torch.rand(1, 3, 16, 16, generator=generator) * 0.5 + 0.2
    masks = torch.zeros(1, 4, 16, 16)
    masks[0, 0, 4:8, 4:12] = 1  # "lips" only: the other regions are empty
    return output, masks, reference


def test_histogram_loss_counts_only_masked_pixels_and_detaches_its_target():
    output, masks, reference = _region_batch()
    loss = histogram_loss(output, masks, reference, masks)
    loss.backward()
    outside = masks[0, 0] == 0
    assert loss.item() > 0
    assert output.grad[0][:, outside].abs().sum() == 0
    assert output.grad[0][:, ~outside].abs().sum() > 0
    # the gradient is that of an L1 to a constant: sign(output - matched) / (3HW) * 255 / 2 per masked pixel
    inside_grad = output.grad[0][:, ~outside].abs()
    assert torch.allclose(inside_grad, torch.full_like(inside_grad, 127.5 / (3 * 256)))
    # whatever lies outside either mask changes nothing
    changed_output = output.detach().clone()
    changed_output[:, :, outside] = 1.0
    changed_reference = reference.clone()
    changed_reference[:, :, outside] = -1.0
    assert histogram_loss(changed_output, masks, changed_reference, masks).item() == pytest.approx(loss.item())


def test_histogram_loss_is_zero_when_the_histograms_already_match_and_honours_weights():
    output, masks, reference = _region_batch()
    on_levels = ((reference + 1) * 127.5).round() / 127.5 - 1  # exact 8-bit values, so rounding adds no difference
    shifted_masks = masks.roll(3, dims=-1)  # the same pixel values, at another place in the reference
    loss = histogram_loss(on_levels, masks, on_levels.roll(3, dims=-1), shifted_masks)
    assert loss.item() == pytest.approx(0.0, abs=1e-4)
    base = histogram_loss(output.detach(), masks, reference, masks)
    doubled = histogram_loss(output.detach(), masks, reference, masks, region_weights=(2.0, 0.1, 1.0, 1.0))
    assert doubled.item() == pytest.approx(2 * base.item())
    both = torch.cat([output.detach()] * 2), torch.cat([masks] * 2), torch.cat([reference] * 2)
    assert histogram_loss(*both[:2], both[2], both[1], sample_weights=torch.tensor([0.0, 0.0])).item() == 0.0


def test_a_gated_histogram_term_asks_nothing_of_a_region_the_reference_leaves_bare():
    from makeup.losses import GeneratorStep, HistogramTerm

    output, masks, reference = _region_batch()
    output = output.detach()
    batch = {"reference": reference, "source": reference, "source_masks": masks, "reference_masks": masks,
             "kind": ["real"], "reference_makeup": torch.tensor([[0.0, 1.0, 0.5, 0.5]])}
    step = GeneratorStep(batch, output, output, {}, None, {})
    weights = (1.0, 0.1, 1.0, 1.0)
    plain = HistogramTerm(1.0, weights)(step).item()
    gated = HistogramTerm(1.0, weights, gated=True)(step).item()
    # the lips weigh 0 and the lids half: the same as those region weights on the plain loss
    expected = HistogramTerm(1.0, (0.0, 0.1, 0.5, 0.5))(step).item()
    assert gated == pytest.approx(expected) and gated < plain
    batch["kind"] = ["synthetic"]  # real pairs only, gated or not
    assert HistogramTerm(1.0, weights, gated=True)(GeneratorStep(batch, output, output, {}, None, {})).item() == 0.0


def test_perceptual_loss_has_a_gradient_through_the_output_only():
    loss_fn = PerceptualLoss(TinyRandomBackbone())
    output = torch.zeros(1, 3, 16, 16, requires_grad=True)
    target = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss = loss_fn(output, target)
    loss.backward()
    assert loss.item() > 0
    assert output.grad.abs().sum() > 0  # detaching the output features as well would give zero here
    assert target.grad is None
    assert all(p.grad is None for p in loss_fn.parameters())
    assert loss_fn(target.detach(), target.detach()).item() == 0.0


def test_vgg_features_load_from_safetensors_and_reject_other_files(tmp_path):
    from safetensors.torch import save_file

    tensors = {}
    for layer in VGG16_TO_RELU4_1:
        if layer != "pool":
            name, c_in, c_out = layer
            tensors[f"{name}.weight"] = torch.randn(c_out, c_in, 3, 3).half() * 0.05
            tensors[f"{name}.bias"] = torch.zeros(c_out).half()
    save_file(tensors, str(tmp_path / "vgg.safetensors"))
    features = load_vgg16_features(tmp_path / "vgg.safetensors")(torch.zeros(1, 3, 32, 32))
    assert features.shape == (1, 512, 4, 4)
    del tensors["conv4_1.bias"]
    save_file(tensors, str(tmp_path / "broken.safetensors"))
    with pytest.raises(BackboneError, match="conv4_1"):
        load_vgg16_features(tmp_path / "broken.safetensors")
    with pytest.raises(BackboneError, match="vgg_convert"):
        load_vgg16_features(tmp_path / "missing.safetensors")


def test_vgg_converter_reorders_keras_kernels(tmp_path):
    """A Keras-layout .h5 built here: kernel[kh, kw, in, out] must land at weight[out, in, kh, kw]."""
    h5py = pytest.importorskip("h5py")
    from safetensors.torch import load_file

    from makeup.losses.vgg_convert import KERAS_BLOCKS, convert

    channels = {1: (3, 64), 2: (64, 128), 3: (128, 256), 4: (256, 512), 5: (512, 512)}
    rng = np.random.default_rng(0)
    kernels = {}
    with h5py.File(tmp_path / "hed.weights.h5", "w") as h5:
        for block, layers in KERAS_BLOCKS.items():
            c_in, c_out = channels[block]
            for index, layer in enumerate(layers, start=1):
                kernel = rng.standard_normal((3, 3, c_in if index == 1 else c_out, c_out)).astype(np.float32)
                kernels[f"conv{block}_{index}"] = kernel
                h5[f"block{block}/layers/{layer}/vars/0"] = kernel
                h5[f"block{block}/layers/{layer}/vars/1"] = np.arange(c_out, dtype=np.float32)
        for name, c_in in (("dsn1", 64), ("dsn2", 128), ("dsn3", 256), ("dsn4", 512), ("dsn5", 512), ("fuse", 5)):
            h5[f"{name}/vars/0"] = np.ones((1, 1, c_in, 1), np.float32)
            h5[f"{name}/vars/1"] = np.zeros(1, np.float32)
    converted = load_file(str(convert(tmp_path / "hed.weights.h5", tmp_path / "vgg.safetensors")))
    assert sorted({key.split(".")[0] for key in converted}) == sorted(
        layer[0] for layer in VGG16_TO_RELU4_1 if layer != "pool"
    )
    kernel = kernels["conv2_1"]
    weight = converted["conv2_1.weight"].float().numpy()
    assert weight.shape == (128, 64, 3, 3) and converted["conv2_1.weight"].dtype == torch.float16
    np.testing.assert_allclose(weight[5, 7, 0, 2], kernel[0, 2, 7, 5], rtol=1e-3)
    np.testing.assert_allclose(weight[100, 3, 2, 1], kernel[2, 1, 3, 100], rtol=1e-3)
