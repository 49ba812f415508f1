"""The classical baseline on real faces: registered, confined to the masks, moving region colours to the reference."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from makeup.evaluate import metrics
from makeup.classical.lab import MASK_REGIONS, METHODS, ClassicalTransfer, lab_to_rgb, rgb_to_lab
from makeup.models.registry import create_model, get_card, list_models
from makeup.models.tensors import image_to_tensor, tensor_to_image

SIZE = 256
LIP_COLOUR = np.array([200, 20, 70], np.float32)
SHADOW_COLOUR = np.array([110, 50, 150], np.float32)


def _crop(image: np.ndarray, top: int, left: int, side: int) -> np.ndarray:
    return cv2.resize(image[top : top + side, left : left + side], (SIZE, SIZE), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def faces(astronaut, grace_hopper):
    """Source (astronaut) and a reference (Grace Hopper) wearing hand-painted lipstick and eye shadow, with masks."""
    pytest.importorskip("mediapipe")
    from makeup.regions import HISTOGRAM_REGIONS, masks_from_image

    source = _crop(astronaut, 30, 117, 216)
    plain_reference = _crop(grace_hopper, 90, 114, 300)
    source_masks, reference_masks = masks_from_image(source), masks_from_image(plain_reference)
    reference = plain_reference.astype(np.float32)
    lips = reference_masks["lips"][..., None]
    shadow = np.maximum(reference_masks["eyeshadow_left"], reference_masks["eyeshadow_right"])[..., None]
    reference = reference * (1 - 0.7 * lips) + LIP_COLOUR * 0.7 * lips
    reference = reference * (1 - 0.5 * shadow) + SHADOW_COLOUR * 0.5 * shadow
    reference = np.clip(reference.round(), 0, 255).astype(np.uint8)

    def stack(masks):
        return torch.from_numpy(np.stack([masks[name] for name in HISTOGRAM_REGIONS]))[None]

    return {
        "source": source,
        "reference": reference,
        "source_masks": source_masks,
        "reference_masks": reference_masks,
        "source_stack": stack(source_masks),
        "reference_stack": stack(reference_masks),
    }


def _run(model: ClassicalTransfer, faces: dict) -> tuple[np.ndarray, np.ndarray]:
    with torch.inference_mode():
        source, reference = image_to_tensor(faces["source"]), image_to_tensor(faces["reference"])
        transferred, demakeup = model(source, reference, faces["source_stack"], faces["reference_stack"])
    return tensor_to_image(transferred), tensor_to_image(demakeup)


def _mean_colour_error(image: np.ndarray, mask: np.ndarray, other: np.ndarray, other_mask: np.ndarray) -> float:
    """CIEDE2000 between the mean Lab colours of two regions."""
    first = metrics.rgb_to_lab(image)[mask > 0.5].mean(0)
    second = metrics.rgb_to_lab(other)[other_mask > 0.5].mean(0)
    return float(metrics.ciede2000(first, second))


def test_mask_order_is_the_histogram_loss_order_and_the_model_is_registered():
    from makeup.regions import HISTOGRAM_REGIONS

    assert MASK_REGIONS == HISTOGRAM_REGIONS
    assert "classical" in list_models(kind="classical")
    card = get_card("classical")
    assert card.kind == "classical" and card.params == 0
    model = create_model("classical", method="histogram")
    assert isinstance(create_model("classical"), ClassicalTransfer)
    assert isinstance(model, ClassicalTransfer) and model.method == "histogram"
    assert sum(p.numel() for p in model.parameters()) == 0


def test_lab_round_trip_is_exact_on_8_bit_colours(astronaut):
    image = astronaut[::4, ::4]
    lab = rgb_to_lab(image_to_tensor(image))
    np.testing.assert_allclose(lab[0].permute(1, 2, 0).numpy(), metrics.rgb_to_lab(image), atol=1e-3)
    assert np.array_equal(tensor_to_image(lab_to_rgb(lab)), image)


def _bare_skin(masks: dict[str, np.ndarray]) -> np.ndarray:
    eyeshadow = np.maximum(masks["eyeshadow_left"], masks["eyeshadow_right"])
    return ((masks["skin"] > 0.5) & (eyeshadow < 0.5)).astype(np.float32)


def _skin_offset(image: np.ndarray, masks: dict[str, np.ndarray], region: str) -> np.ndarray:
    """Mean Lab colour of a region minus that of the bare skin around it: the makeup, not the person's skin tone."""
    lab = metrics.rgb_to_lab(image)
    return lab[masks[region] > 0.5].mean(0) - lab[_bare_skin(masks) > 0.5].mean(0)


@pytest.mark.parametrize("method", METHODS)
def test_nothing_outside_the_masks_changes(faces, method):
    transferred, demakeup = _run(ClassicalTransfer(method=method), faces)
    outside = faces["source_stack"][0].amax(0).numpy() < 0.5
    assert np.array_equal(transferred[outside], faces["source"][outside])
    reference_outside = faces["reference_stack"][0].amax(0).numpy() < 0.5
    assert np.array_equal(demakeup[reference_outside], faces["reference"][reference_outside])
    assert not np.array_equal(transferred[~outside], faces["source"][~outside])


def test_default_moves_lips_and_eye_shadow_toward_the_reference_and_skin_a_little(faces):
    transferred, _ = _run(create_model("classical"), faces)
    source, reference = faces["source"], faces["reference"]
    source_masks, reference_masks = faces["source_masks"], faces["reference_masks"]
    lips_before = _mean_colour_error(source, source_masks["lips"], reference, reference_masks["lips"])
    lips_after = _mean_colour_error(transferred, source_masks["lips"], reference, reference_masks["lips"])
    assert lips_after < 0.8 * lips_before, (lips_before, lips_after)  # 0.8 strength, softened edges
    source_skin, reference_skin = _bare_skin(source_masks), _bare_skin(reference_masks)
    skin_before = _mean_colour_error(source, source_skin, reference, reference_skin)
    skin_after = _mean_colour_error(transferred, source_skin, reference, reference_skin)
    assert 0.7 * skin_before < skin_after < skin_before, (skin_before, skin_after)  # skin tone is mostly identity
    for side in ("eyeshadow_left", "eyeshadow_right"):
        wanted = _skin_offset(reference, reference_masks, side)
        before = np.linalg.norm(_skin_offset(source, source_masks, side) - wanted)
        after = np.linalg.norm(_skin_offset(transferred, source_masks, side) - wanted)
        assert after < 0.9 * before, (side, before, after)


@pytest.mark.parametrize("method", METHODS)
def test_at_full_strength_every_method_reaches_the_reference_colours(faces, method):
    model = ClassicalTransfer(method=method, lips=1.0, eyeshadow=1.0, skin=1.0, feather=0.0)
    transferred, _ = _run(model, faces)
    source, reference = faces["source"], faces["reference"]
    source_masks, reference_masks = faces["source_masks"], faces["reference_masks"]
    for region in ("lips", "skin"):
        mask = source_masks[region] if region == "lips" else _bare_skin(source_masks)
        reference_mask = reference_masks[region] if region == "lips" else _bare_skin(reference_masks)
        before = _mean_colour_error(source, mask, reference, reference_mask)
        after = _mean_colour_error(transferred, mask, reference, reference_mask)
        assert after < 0.15 * before and after < 2.0, f"{region}: mean colour error {before:.1f} -> {after:.1f}"
    for side in ("eyeshadow_left", "eyeshadow_right"):
        wanted = _skin_offset(reference, reference_masks, side)
        before = np.linalg.norm(_skin_offset(source, source_masks, side) - wanted)
        after = np.linalg.norm(_skin_offset(transferred, source_masks, side) - wanted)
        assert after < 0.25 * before, (side, before, after)


def test_histogram_method_without_feathering_reproduces_the_reference_distribution(faces):
    transferred, _ = _run(ClassicalTransfer(method="histogram", lips=1.0, feather=0.0), faces)
    lips, reference_lips = faces["source_masks"]["lips"], faces["reference_masks"]["lips"]
    before = metrics.region_histogram_distance(faces["source"], lips, faces["reference"], reference_lips)
    after = metrics.region_histogram_distance(transferred, lips, faces["reference"], reference_lips)
    assert before > 10.0 and after < 1.0


def test_missing_or_misshaped_masks_are_explained(faces):
    model = ClassicalTransfer()
    source, reference = image_to_tensor(faces["source"]), image_to_tensor(faces["reference"])
    with pytest.raises(ValueError, match="needs the region masks"):
        model(source, reference)
    with pytest.raises(ValueError, match="masks must have shape"):
        model(source, reference, faces["source_stack"][:, :2], faces["reference_stack"])
    with pytest.raises(ValueError, match="unknown colour-transfer method"):
        ClassicalTransfer(method="poisson")
    with pytest.raises(ValueError, match="strength must lie in"):
        ClassicalTransfer(lips=1.5)
