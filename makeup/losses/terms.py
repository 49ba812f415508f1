"""The generator's objective as a list of weighted loss terms over one training step's tensors.

The trainer runs the generator passes, packs their results into a `GeneratorStep` and sums
`term.weight * term(step)` over its terms. New objectives (e.g. distillation) add terms; the trainer stays as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from makeup.losses.adversarial import lsgan_generator_loss
from makeup.losses.histogram import DEFAULT_REGION_WEIGHTS, histogram_loss
from makeup.losses.perceptual import PerceptualLoss
from makeup.losses.reconstruction import cycle_loss, identity_loss, paired_l1_loss, paired_l2_loss, preservation_loss

CYCLE = "cycle"
IDENTITY = "identity"


@dataclass
class GeneratorStep:
    """One step's inputs and generator outputs, as the loss terms see them.

    `features` are the generator's `encode` outputs of the main pass; `cycled` is `G(demakeup, transferred)`
    (back to the reference and to the source); `identity_source`/`identity_reference` are `G(x, x)`. Passes a
    term set does not need are None. The discriminators are the plain modules, frozen during this step.
    """

    batch: dict[str, Any]
    transferred: torch.Tensor
    demakeup: torch.Tensor
    features: dict[str, torch.Tensor]
    generator: nn.Module
    discriminators: dict[str, nn.Module]
    cycled: tuple[torch.Tensor, torch.Tensor] | None = None
    identity_source: tuple[torch.Tensor, torch.Tensor] | None = None
    identity_reference: tuple[torch.Tensor, torch.Tensor] | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def is_real(self) -> torch.Tensor:
        """B floats: 1 where the reference is a real makeup photo (an unpaired pair), 0 for synthetic triplets."""
        if "is_real" not in self.cache:
            flags = [kind == "real" for kind in self.batch["kind"]]
            self.cache["is_real"] = torch.tensor(flags, dtype=torch.float32, device=self.transferred.device)
        return self.cache["is_real"]


class LossTerm(nn.Module):
    """A named, weighted part of the generator loss. `needs` names the extra passes it reads (cycle, identity)."""

    name: str = "loss"
    needs: frozenset[str] = frozenset()

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = float(weight)

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        raise NotImplementedError


class AdversarialTerm(LossTerm):
    """LSGAN: both outputs should look real to their domain's discriminator."""

    name = "adversarial"

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        discriminators = step.discriminators
        return lsgan_generator_loss(discriminators["disc_makeup"](step.transferred)) + lsgan_generator_loss(
            discriminators["disc_plain"](step.demakeup)
        )


class CycleTerm(LossTerm):
    """Transfer then transfer back: G(demakeup, transferred) must give back the reference and the source."""

    name = "cycle"
    needs = frozenset({CYCLE})

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        back_to_reference, back_to_source = step.cycled
        return cycle_loss(back_to_source, step.batch["source"]) + cycle_loss(back_to_reference, step.batch["reference"])


class IdentityTerm(LossTerm):
    """G(x, x) must return x on both outputs; one term per image, each the mean over the two outputs."""

    name = "identity"
    needs = frozenset({IDENTITY})

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        total = 0.0
        pairs = ((step.identity_source, step.batch["source"]), (step.identity_reference, step.batch["reference"]))
        for outputs, image in pairs:
            total = total + 0.5 * (identity_loss(outputs[0], image) + identity_loss(outputs[1], image))
        return total


class ContentTerm(LossTerm):
    """Perceptual: the transferred face keeps the source's content, the demakeup face the reference's."""

    name = "perceptual"

    def __init__(self, weight: float, perceptual: PerceptualLoss) -> None:
        super().__init__(weight)
        self.perceptual = perceptual

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        return self.perceptual(step.transferred, step.batch["source"]) + self.perceptual(
            step.demakeup, step.batch["reference"]
        )


class PairedTerm(LossTerm):
    """Synthetic triplets: L1 (or, with `distance="l2"`, squared error) between the transferred face and its
    exact ground truth. The term is named "paired_l1" or "paired_l2" after its distance.

    With `samples="real"` it is the same distance on the real pairs that carry an example-based pseudo target
    instead, named "pseudo_l1" or "pseudo_l2": a separate term, so that the approximate targets get their own
    weight.

    `region_weight` adds that much weight to the pixels of the lips and eye-shadow masks (HISTOGRAM_REGIONS
    channels 0, 2 and 3): they are a few percent of the crop but carry most of the makeup, so at weight 0 a
    generator near the identity gets little signal about the makeup itself. `outside_weight` adds weight to the
    pixels outside every makeup mask (hair, background, eyes, brows), which must stay exactly as they were.
    `lips_weight` adds weight to the lip pixels alone (channel 0): they are 1.5% of a crop and carry under 4% of
    the weight even with `region_weight` 10 and `outside_weight` 5, so a generator can leave a real reference's
    lipstick half carried at little cost.
    """

    DISTANCES = {"l1": paired_l1_loss, "l2": paired_l2_loss}

    SAMPLES = ("synthetic", "real")

    def __init__(self, weight: float, region_weight: float = 0.0, distance: str = "l1",
                 outside_weight: float = 0.0, samples: str = "synthetic", lips_weight: float = 0.0) -> None:
        super().__init__(weight)
        if distance not in self.DISTANCES:
            raise ValueError(f"paired distance must be one of {', '.join(self.DISTANCES)}, got {distance!r}")
        if samples not in self.SAMPLES:
            raise ValueError(f"paired samples must be one of {', '.join(self.SAMPLES)}, got {samples!r}")
        self.region_weight = float(region_weight)
        self.outside_weight = float(outside_weight)
        self.lips_weight = float(lips_weight)
        self.distance = distance
        self.samples = samples
        self.name = f"{'paired' if samples == 'synthetic' else 'pseudo'}_{distance}"

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        batch = step.batch
        pixel_weights = None
        if self.region_weight or self.outside_weight or self.lips_weight:
            masks = batch["source_masks"].float()
            regions = masks[:, [0, 2, 3]].amax(dim=1, keepdim=True)
            lips = masks[:, :1]  # HISTOGRAM_REGIONS channel 0
            outside = 1.0 - masks.amax(dim=1, keepdim=True)
            pixel_weights = (1.0 + self.region_weight * regions + self.outside_weight * outside
                             + self.lips_weight * lips)
        wanted = step.is_real if self.samples == "real" else 1.0 - step.is_real
        has_target = batch["has_target"].float() * wanted
        return self.DISTANCES[self.distance](step.transferred, batch["target"], has_target, pixel_weights)


class PreservationTerm(LossTerm):
    """Real pairs: outside the makeup regions the transferred face equals the source, the demakeup face the
    reference (a masked identity loss that needs no extra generator pass)."""

    name = "preservation"

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        batch = step.batch
        return preservation_loss(step.transferred, batch["source"], batch["source_masks"], step.is_real) + \
            preservation_loss(step.demakeup, batch["reference"], batch["reference_masks"], step.is_real)


class PairedPerceptualTerm(LossTerm):
    """Synthetic triplets: perceptual distance between the transferred face and its ground truth."""

    name = "paired_perceptual"

    def __init__(self, weight: float, perceptual: PerceptualLoss) -> None:
        super().__init__(weight)
        self.perceptual = perceptual

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        synthetic = step.batch["has_target"].float() * (1.0 - step.is_real)  # not the approximate pseudo targets
        return self.perceptual(step.transferred, step.batch["target"], weights=synthetic)


class HistogramTerm(LossTerm):
    """BeautyGAN's makeup loss in both directions: transferred vs reference, demakeup vs source, per region."""

    name = "histogram"

    def __init__(
        self, weight: float, region_weights: Sequence[float] = DEFAULT_REGION_WEIGHTS, on_synthetic: bool = False,
        gated: bool = False,
    ) -> None:
        super().__init__(weight)
        self.region_weights = tuple(region_weights)
        self.on_synthetic = on_synthetic
        self.gated = gated  # each region weighted by the batch's `reference_makeup` (how made up it looks)

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        batch = step.batch
        samples = None if self.on_synthetic else step.is_real
        if self.gated and "reference_makeup" in batch:
            strength = batch["reference_makeup"].to(step.transferred.device, torch.float32)
            samples = strength if samples is None else samples[:, None] * strength
        to_reference = histogram_loss(
            step.transferred, batch["source_masks"], batch["reference"], batch["reference_masks"],
            self.region_weights, samples,
        )
        to_source = histogram_loss(
            step.demakeup, batch["reference_masks"], batch["source"], batch["source_masks"],
            self.region_weights, samples,
        )
        return to_reference + to_source
