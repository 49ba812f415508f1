"""Synthetic makeup: determinism, confinement to the regions, colour moving toward the product, styles."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from makeup.synth import LOOK_WEIGHTS, LOOKS, PRESETS, MakeupStyle, preset, random_style, render, scaled


@pytest.fixture(scope="module")
def face_and_masks(astronaut):
    pytest.importorskip("mediapipe", reason="FaceMesh masks need mediapipe 0.10.21 (the train extra)")
    from makeup.face import align_face, detect_faces
    from makeup.regions import masks_from_image

    crop = align_face(astronaut, detect_faces(astronaut)[0].landmarks, size=256).crop
    return crop, masks_from_image(crop)


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def test_render_is_deterministic_and_keeps_the_input(face_and_masks):
    face, masks = face_and_masks
    before = face.copy()
    style = random_style(np.random.default_rng(3))
    first, second = render(face, masks, style), render(face, masks, style)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(face, before)
    assert first.shape == face.shape and first.dtype == np.uint8
    assert np.abs(first.astype(int) - face).max() > 20, "a random look changes the face visibly"


def test_an_empty_style_changes_nothing(face_and_masks):
    face, masks = face_and_masks
    np.testing.assert_array_equal(render(face, masks, MakeupStyle()), face)


@pytest.mark.parametrize("name", list(PRESETS))
def test_makeup_stays_on_the_face_and_off_eyes_and_teeth(face_and_masks, name):
    face, masks = face_and_masks
    out = render(face, masks, preset(name))
    changed = np.abs(out.astype(int) - face).max(axis=2) > 1
    # Feathering reaches a little past the face outline, never far.
    near_face = cv2.dilate(masks["face"], np.ones((9, 9), np.uint8))
    assert not (changed & (near_face == 0)).any()
    eyes = (masks["eye_left"] + masks["eye_right"]) > 0
    np.testing.assert_array_equal(out[eyes], face[eyes])
    mouth = masks["mouth"] > 0
    assert np.abs(out[mouth].astype(int) - face[mouth]).max() <= 1


def test_lipstick_moves_lip_colour_toward_the_product(face_and_masks):
    face, masks = face_and_masks
    red = MakeupStyle(lip_colour=(170, 20, 35), lip_opacity=0.9)
    out = render(face, masks, red)
    lips = masks["lips"] > 0
    target = _lab(np.array([[red.lip_colour]], np.uint8))[0, 0]
    before = np.linalg.norm(_lab(face)[lips][:, 1:].mean(0) - target[1:])
    after = np.linalg.norm(_lab(out)[lips][:, 1:].mean(0) - target[1:])
    assert after < 0.3 * before
    # Only the lips (and their feathered rim) change; cheeks and eye areas do not.
    changed = np.abs(out.astype(int) - face).max(axis=2) > 1
    rim = cv2.dilate(masks["lips"], np.ones((7, 7), np.uint8)) > 0
    assert not (changed & ~rim).any()
    # Texture is kept: the lips' lightness still varies as before (not a flat fill).
    assert _lab(out)[lips][:, 0].std() > 0.5 * _lab(face)[lips][:, 0].std()


def test_eye_shadow_darkens_the_lids_and_blush_warms_the_cheeks(face_and_masks):
    face, masks = face_and_masks
    out = render(face, masks, preset("smoky-eye"))
    for side in ("left", "right"):
        lid = (masks[f"eyering_{side}"] > 0) & (masks["skin"] > 0)
        assert _lab(out)[lid][:, 0].mean() < _lab(face)[lid][:, 0].mean() - 3
    blush = render(face, masks, MakeupStyle(blush_colour=(240, 110, 140), blush_opacity=0.4))
    cheeks = (masks["cheek_left"] + masks["cheek_right"]) > 0
    assert _lab(blush)[cheeks][:, 1].mean() > _lab(face)[cheeks][:, 1].mean() + 2  # redder (a*)


def test_render_accepts_landmarks(face_and_masks):
    from makeup.regions import detect_landmarks

    face, masks = face_and_masks
    landmarks = detect_landmarks(face)
    np.testing.assert_array_equal(render(face, landmarks, preset("natural")), render(face, masks, preset("natural")))


def test_random_styles_are_deterministic_and_varied():
    a = [random_style(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    styles = [random_style(rng) for _ in range(200)]
    lip = np.array([s.lip_opacity for s in styles])
    assert lip.min() == 0.0 and lip.max() > 0.8, "from eyes-only looks to strong lips"
    assert len({s.lip_colour for s in styles}) > 150
    assert any(s.shadow_lower > 0.4 for s in styles) and any(s.liner_wing > 0 for s in styles)
    with pytest.raises(ValueError, match="unknown look"):
        random_style(rng, look="gothic")


def _chroma(colour) -> float:
    lab = cv2.cvtColor(np.array([[colour]], dtype=np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0, 0]
    return float(np.hypot(lab[1], lab[2]))


def test_bold_eye_looks_are_vivid_and_never_in_the_default_mix():
    assert "bold-eyes" in LOOKS and "bold-eyes" not in LOOK_WEIGHTS
    rng = np.random.default_rng(1)
    bold = [random_style(rng, look="bold-eyes") for _ in range(100)]
    usual = [random_style(rng) for _ in range(100)]
    assert np.median([s.shadow_opacity for s in bold]) > 0.7 > np.median([s.shadow_opacity for s in usual])
    bold_chroma = np.median([_chroma(s.shadow_colours[0]) for s in bold])
    usual_chroma = np.median([_chroma(s.shadow_colours[0]) for s in usual])
    assert bold_chroma > 1.8 * usual_chroma, (bold_chroma, usual_chroma)
    # blue and green lids, which the usual palette hardly has
    assert any(_lab_hue(s.shadow_colours[0]) in range(200, 300) for s in bold)
    assert any(_lab_hue(s.shadow_colours[0]) in range(120, 200) for s in bold)


def _lab_hue(colour) -> int:
    lab = cv2.cvtColor(np.array([[colour]], dtype=np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0, 0]
    return int(np.degrees(np.arctan2(lab[2], lab[1])) % 360)


def test_presets_and_json_round_trip():
    assert {"natural", "classic-red", "smoky-eye", "pink-glam"} <= set(PRESETS)
    style = preset("pink-glam")
    assert MakeupStyle.from_dict(json.loads(style.to_json())) == style
    assert scaled(style, 0.0).lip_opacity == 0.0 and scaled(style, 2.0).lip_opacity == 1.0
    with pytest.raises(KeyError, match="unknown makeup preset"):
        preset("clown")
    with pytest.raises(ValueError, match="unknown MakeupStyle fields"):
        MakeupStyle.from_dict({"lipstick": 1})
