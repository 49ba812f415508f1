"""The classical, non-learned baseline: per-region colour transfer in CIE Lab, reference -> source, inside masks.

What a user could do without any network: for skin, each eye-shadow side and the lips, the source's colours in
that region are moved toward the reference's colours in the same region, by matching each Lab channel's mean
("mean"), its mean and spread ("statistics", after Reinhard et al. 2001) or its whole histogram ("histogram").
Pixels outside the masks are never touched, so every network has to beat it on colour *and* on preservation.

Unlike the generators it needs the region masks of both faces:
`model(source, reference, source_masks, reference_masks) -> (transferred, demakeup)`, with images Nx3xHxW in
[-1, 1] and masks NxRxHxW in `makeup.regions.HISTOGRAM_REGIONS` order. Every classical method takes the same
arguments plus both faces' landmarks (Nx478x2, optional here; `makeup.classical.example` needs them). "Demakeup"
is the same transfer the other way round (the reference given the source's region colours).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from makeup.models.registry import ModelCard, register_model

# The mask channels this model reads, in the order of makeup.regions.HISTOGRAM_REGIONS (the models layer cannot
# import makeup.regions; tests/test_classical.py checks that the two agree).
MASK_REGIONS = ("lips", "skin", "eyeshadow_left", "eyeshadow_right")
# Skin first, so that the eye shadow (inside the skin) and the lips overwrite it where they lie.
_APPLY_ORDER = ("skin", "eyeshadow_left", "eyeshadow_right", "lips")
METHODS = ("mean", "statistics", "histogram")

_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_D65_WHITE = torch.tensor([0.95047, 1.0, 1.08883])
_LAB_EPSILON = 0.008856
_LAB_SLOPE = 7.787
# Spread ratios outside this range come from tiny or flat regions and would amplify noise.
_SPREAD_RATIO_LIMITS = (0.25, 4.0)


def rgb_to_lab(images: torch.Tensor) -> torch.Tensor:
    """Nx3xHxW RGB in [-1, 1] -> Nx3xHxW CIE Lab (D65), the same formula as `makeup.evaluate.metrics.rgb_to_lab`."""
    rgb = ((images + 1.0) / 2.0).clamp(0.0, 1.0)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = (_RGB_TO_XYZ / _D65_WHITE[:, None]).to(images)
    xyz = torch.einsum("ij,njhw->nihw", matrix, linear)
    cube = torch.where(xyz > _LAB_EPSILON, xyz.clamp(min=_LAB_EPSILON) ** (1.0 / 3.0), _LAB_SLOPE * xyz + 16.0 / 116.0)
    lightness = 116.0 * cube[:, 1] - 16.0
    a = 500.0 * (cube[:, 0] - cube[:, 1])
    b = 200.0 * (cube[:, 1] - cube[:, 2])
    return torch.stack([lightness, a, b], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Nx3xHxW CIE Lab (D65) -> Nx3xHxW RGB in [-1, 1], clipped to the sRGB gamut."""
    fy = (lab[:, 0] + 16.0) / 116.0
    cube = torch.stack([fy + lab[:, 1] / 500.0, fy, fy - lab[:, 2] / 200.0], dim=1)
    threshold = _LAB_EPSILON ** (1.0 / 3.0)
    xyz = torch.where(cube > threshold, cube**3, (cube - 16.0 / 116.0) / _LAB_SLOPE)
    matrix = torch.linalg.inv(_RGB_TO_XYZ).to(lab) * _D65_WHITE.to(lab)[None, :]
    linear = torch.einsum("ij,njhw->nihw", matrix, xyz).clamp(0.0, 1.0)
    rgb = torch.where(linear > 0.0031308, 1.055 * linear.clamp(min=1e-12) ** (1.0 / 2.4) - 0.055, 12.92 * linear)
    return rgb.clamp(0.0, 1.0) * 2.0 - 1.0


def _match_mean(values: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """3xK source pixels -> 3xK shifted so that each channel's mean is that of 3xM `template` (spread kept)."""
    return values - values.mean(1, keepdim=True) + template.mean(1, keepdim=True)


def _match_statistics(values: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """3xK source pixels -> 3xK with each channel's mean and standard deviation those of 3xM `template`."""
    mean, std = values.mean(1, keepdim=True), values.std(1, unbiased=False, keepdim=True)
    target_mean, target_std = template.mean(1, keepdim=True), template.std(1, unbiased=False, keepdim=True)
    ratio = (target_std / std.clamp(min=1e-6)).clamp(*_SPREAD_RATIO_LIMITS)
    return (values - mean) * ratio + target_mean


def _match_histogram(values: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
    """3xK source pixels -> 3xK with each channel's distribution that of 3xM `template` (quantile mapping)."""
    count = values.shape[1]
    ranks = values.argsort(1).argsort(1).to(values.dtype)
    quantiles = (ranks + 0.5) / count
    template_sorted = template.sort(1).values
    positions = quantiles * template.shape[1] - 0.5
    lower = positions.floor().clamp(0, template.shape[1] - 1).long()
    upper = (lower + 1).clamp(max=template.shape[1] - 1)
    fraction = (positions - lower.to(values.dtype)).clamp(0.0, 1.0)
    return template_sorted.gather(1, lower) * (1 - fraction) + template_sorted.gather(1, upper) * fraction


def _gaussian_kernel(sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _feather(masks: torch.Tensor, sigma: float) -> torch.Tensor:
    """Soften mask edges *inward*: blurred, then multiplied by the mask itself, so nothing outside it changes."""
    binary = (masks > 0.5).to(masks.dtype)
    if sigma <= 0:
        return binary
    kernel = _gaussian_kernel(sigma, masks.device, masks.dtype)
    radius = kernel.numel() // 2
    flat = binary.flatten(0, 1)[:, None]
    blurred = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    blurred = F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return blurred.view_as(binary) * binary


def _bare_skin(inside: torch.Tensor) -> torch.Tensor:
    """Skin outside the eye-shadow boxes (RxHxW bool masks in MASK_REGIONS order -> HxW): the skin tone's pixels."""
    eyeshadow = inside[MASK_REGIONS.index("eyeshadow_left")] | inside[MASK_REGIONS.index("eyeshadow_right")]
    return inside[MASK_REGIONS.index("skin")] & ~eyeshadow


class ClassicalTransfer(nn.Module):
    """Per-region Lab colour transfer from reference to source; no weights.

    `method` is how a region's colours are matched: "mean" shifts each Lab channel to the reference's mean and
    keeps the source's texture, "statistics" also scales its spread, "histogram" matches the whole distribution.
    `lips`, `eyeshadow` and `skin` are how far each region moves (0 = not at all, 1 = all the way). Skin moves
    only a little by default: most of a face's skin colour is the person, not the foundation (BeautyGAN's makeup
    loss weighs skin 0.1 for the same reason). Eye shadow is matched *relative to the skin*: the eye-shadow box
    also holds bare skin, so the reference's skin tone is replaced by the source's before matching, and only the
    makeup's departure from the skin is carried over. The defaults scored best on the validation split's
    synthetic triplets (PSNR and per-region CIEDE2000): region statistics cannot say *where* inside the eye-shadow
    box the makeup sits, so a partial move beats a full one there.
    """

    def __init__(
        self,
        method: str = "mean",
        lips: float = 0.8,
        eyeshadow: float = 0.3,
        skin: float = 0.1,
        feather: float = 0.02,
        min_pixels: int = 16,
    ):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown colour-transfer method {method!r}: use one of {', '.join(METHODS)}")
        for name, value in (("lips", lips), ("eyeshadow", eyeshadow), ("skin", skin)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} strength must lie in [0, 1], got {value}")
        self.method = method
        self.strengths = {"lips": lips, "eyeshadow_left": eyeshadow, "eyeshadow_right": eyeshadow, "skin": skin}
        self.feather = feather  # edge softening, as a fraction of the image height
        self.min_pixels = min_pixels  # regions smaller than this in either face are left as they are

    def forward(
        self,
        source: torch.Tensor,
        reference: torch.Tensor,
        source_masks: torch.Tensor | None = None,
        reference_masks: torch.Tensor | None = None,
        source_landmarks: torch.Tensor | None = None,
        reference_landmarks: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(source wearing the reference's region colours, reference wearing the source's). Landmarks are
        accepted, as every classical method's are, and not needed: the masks say where the regions are."""
        if source_masks is None or reference_masks is None:
            raise ValueError(
                "the classical baseline needs the region masks of both faces (source_masks and reference_masks, "
                f"Nx{len(MASK_REGIONS)}xHxW in the order {MASK_REGIONS}); compute them with makeup.regions"
            )
        transferred = self.transfer(source, reference, source_masks, reference_masks)
        demakeup = self.transfer(reference, source, reference_masks, source_masks)
        return transferred, demakeup

    def transfer(
        self, images: torch.Tensor, templates: torch.Tensor, image_masks: torch.Tensor, template_masks: torch.Tensor
    ) -> torch.Tensor:
        """`images` with each masked region's Lab colours moved toward those of the same region in `templates`."""
        for name, tensor in (("images", images), ("templates", templates)):
            if tensor.ndim != 4 or tensor.shape[1] != 3:
                raise ValueError(f"{name} must be Nx3xHxW, got shape {tuple(tensor.shape)}")
        for name, masks, tensor in (("image", image_masks, images), ("template", template_masks, templates)):
            expected = (tensor.shape[0], len(MASK_REGIONS), *tensor.shape[2:])
            if tuple(masks.shape) != expected:
                raise ValueError(f"{name} masks must have shape {expected} ({MASK_REGIONS}), got {tuple(masks.shape)}")
        image_lab, template_lab = rgb_to_lab(images), rgb_to_lab(templates)
        weights = _feather(image_masks.to(images.dtype), self.feather * images.shape[-2])
        result = image_lab.clone()
        for sample in range(images.shape[0]):
            inside = image_masks[sample] > 0.5
            template_inside = template_masks[sample] > 0.5
            bare_skin, template_bare_skin = _bare_skin(inside), _bare_skin(template_inside)
            for region in _APPLY_ORDER:
                channel = MASK_REGIONS.index(region)
                strength = self.strengths[region]
                if strength == 0 or min(inside[channel].sum(), template_inside[channel].sum()) < self.min_pixels:
                    continue
                # Regions apply in turn to the current result, so eye shadow builds on the already moved skin.
                current = result[sample][:, inside[channel]]
                # The reference's skin tone is read from its bare skin: its eye-shadow boxes carry makeup.
                template_pixels = template_bare_skin if region == "skin" else template_inside[channel]
                template = template_lab[sample][:, template_pixels]
                if region.startswith("eyeshadow") and min(bare_skin.sum(), template_bare_skin.sum()) >= self.min_pixels:
                    skin_tone = result[sample][:, bare_skin].mean(1, keepdim=True)
                    template_skin_tone = template_lab[sample][:, template_bare_skin].mean(1, keepdim=True)
                    template = template - template_skin_tone + skin_tone
                moved = self._match(current, template)
                weight = weights[sample, channel][inside[channel]] * strength
                result[sample][:, inside[channel]] = current * (1 - weight) + moved * weight
        changed = (image_masks > 0.5).any(1, keepdim=True)
        # Converting back through Lab is not bit-exact: keep the untouched pixels exactly as they came in.
        return torch.where(changed, lab_to_rgb(result), images)

    def _match(self, values: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
        return _MATCHERS[self.method](values, template)


_MATCHERS = {"mean": _match_mean, "statistics": _match_statistics, "histogram": _match_histogram}

register_model(
    ModelCard(
        name="classical",
        kind="classical",
        method="per-region colour transfer in CIE Lab (mean, mean+spread or histogram matching), no learning",
        paper="Reinhard et al., Color Transfer between Images, IEEE CG&A 2001 (applied per face region)",
        params=0,
        gmacs=0.04,  # the Lab conversions and region statistics, counted like the networks' MACs
        purpose="reference row of every evaluation: what colour transfer without a network achieves",
        config={"method": "mean", "lips": 0.8, "eyeshadow": 0.3, "skin": 0.1, "feather": 0.02, "min_pixels": 16},
        notes="needs region masks of both faces: model(source, reference, source_masks, reference_masks)",
    ),
    ClassicalTransfer,
)
