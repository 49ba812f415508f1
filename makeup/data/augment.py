"""Augmentation suited to aligned faces: a mirror flip that swaps left/right regions, and small geometric and
colour jitter of the source (the reference is only flipped: its makeup is the thing to copy, unchanged)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from makeup.regions import flip_masks


@dataclass(frozen=True)
class FaceAugment:
    """Jitter ranges; set a field to 0 to switch that part off (`FaceAugment.none()` switches off everything)."""

    flip: float = 0.5  # probability of a mirror flip
    rotation: float = 5.0  # degrees, uniform in +-rotation
    scale: float = 0.05  # relative, uniform in +-scale
    shift: float = 0.03  # fraction of the crop, uniform in +-shift
    brightness: float = 0.08  # relative
    contrast: float = 0.08
    saturation: float = 0.1

    @classmethod
    def none(cls) -> "FaceAugment":
        return cls(flip=0.0, rotation=0.0, scale=0.0, shift=0.0, brightness=0.0, contrast=0.0, saturation=0.0)

    def source(self, image: np.ndarray, masks: dict[str, np.ndarray], rng: np.random.Generator
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Flip, warp and recolour a source face and warp its masks with it."""
        image, masks = self.reference(image, masks, rng)
        image, masks = self._warp(image, masks, rng)
        return self._recolour([image], rng)[0], masks

    def source_and_target(self, image: np.ndarray, target: np.ndarray, masks: dict[str, np.ndarray],
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """`source` for a face and its (pseudo) target together: the same flip, warp and recolouring for both, so
        the target stays exact for the jittered source."""
        both = np.concatenate([image, target], axis=2)  # one 6-channel image: every geometric step applies to both
        both, masks = self.reference(both, masks, rng)
        both, masks = self._warp(both, masks, rng)
        image, target = self._recolour([both[..., :3], both[..., 3:]], rng)
        return image, target, masks

    def follow_source(self, image: np.ndarray, masks: dict[str, np.ndarray], replay: np.random.Generator
                      ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The flip and geometric jitter that `source` (or `source_and_target`) gave a face, given to an image
        already in that face's geometry (a reference warped onto it), without the colour jitter.

        `replay` is a copy of the generator taken just before that call (`copy.deepcopy(rng)`): it draws the same
        flip and warp again."""
        image, masks = self.reference(image, masks, replay)
        return self._warp(image, masks, replay)

    def reference(self, image: np.ndarray, masks: dict[str, np.ndarray], rng: np.random.Generator
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Only the mirror flip (with left/right masks swapped)."""
        if self.flip > 0 and rng.random() < self.flip:
            return np.ascontiguousarray(image[:, ::-1]), flip_masks(masks)
        return image, masks

    def _warp(self, image: np.ndarray, masks: dict[str, np.ndarray], rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if self.rotation <= 0 and self.scale <= 0 and self.shift <= 0:
            return image, masks
        size = image.shape[0]
        angle = rng.uniform(-self.rotation, self.rotation)
        zoom = 1.0 + rng.uniform(-self.scale, self.scale)
        matrix = cv2.getRotationMatrix2D((size / 2.0, size / 2.0), angle, zoom)
        matrix[:, 2] += rng.uniform(-self.shift, self.shift, size=2) * size
        warped = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        names = list(masks)
        # All masks in one multi-channel warp; nearest neighbour keeps them binary.
        stack = np.dstack([masks[name] > 0.5 for name in names]).astype(np.uint8)
        stack = cv2.warpAffine(stack, matrix, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
        stack = stack.reshape(size, size, len(names))
        warped_masks = {name: stack[..., i].astype(np.float32) for i, name in enumerate(names)}
        return warped, warped_masks

    def _recolour(self, images: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """The same colour jitter on every image of `images` (a face and its target)."""
        if self.brightness <= 0 and self.contrast <= 0 and self.saturation <= 0:
            return [np.ascontiguousarray(image) for image in images]
        saturation = 1.0 + rng.uniform(-self.saturation, self.saturation)
        contrast = 1.0 + rng.uniform(-self.contrast, self.contrast)
        brightness = 1.0 + rng.uniform(-self.brightness, self.brightness)
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        mean_grey = float((images[0].astype(np.float32) @ weights).mean())  # the face's, for both images
        out = []
        for image in images:
            pixels = image.astype(np.float32)
            grey = pixels @ weights
            pixels = grey[..., None] + saturation * (pixels - grey[..., None])
            pixels = mean_grey + contrast * (pixels - mean_grey)
            pixels *= brightness
            out.append(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
        return out


def recolour_lips(image: np.ndarray, masks: dict[str, np.ndarray], rng: np.random.Generator,
                  hue_degrees: float = 30.0, chroma: tuple[float, float] = (0.8, 1.4), lightness: float = 8.0
                  ) -> np.ndarray:
    """`image` (uint8 RGB crop) with its lips in another shade: in Lab, hue turned by up to +-`hue_degrees`,
    chroma scaled within `chroma`, lightness shifted by up to +-`lightness`; feathered at the lip line, the
    mouth opening (teeth) untouched, the lips' own texture kept. A real makeup reference then shows a lip colour
    the few real references of a training set do not, and a pseudo target computed from it follows."""
    lips = masks["lips"].astype(np.float32) * (1.0 - masks["mouth"].astype(np.float32))
    if not (lips > 0.5).any():
        return image.copy()
    angle = np.deg2rad(rng.uniform(-hue_degrees, hue_degrees))
    scale, shift = rng.uniform(*chroma), rng.uniform(-lightness, lightness)
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    turned = lab.copy()
    turned[..., 0] += shift
    turned[..., 1] = cos * lab[..., 1] - sin * lab[..., 2]
    turned[..., 2] = sin * lab[..., 1] + cos * lab[..., 2]
    weight = cv2.GaussianBlur(lips, (0, 0), sigmaX=max(image.shape[0] / 256.0, 0.5)) * (masks["mouth"] < 0.5)
    lab += weight[..., None] * (turned - lab)
    rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.where((weight > 0)[..., None], rgb, image)  # elsewhere exactly as it was (no colour round trip)
