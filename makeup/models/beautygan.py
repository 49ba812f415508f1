"""The BeautyGAN generator (Li et al., ACM MM 2018): the two-branch teacher and the concatenated-input variant."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from makeup.models.base import Features, MakeupGenerator, prepare_pair
from makeup.models.layers import (
    ConvNormReLU,
    ConvTransposeNormReLU,
    DepthwiseSeparableResidualBlock,
    OutputHead,
    ResidualBlock,
)
from makeup.models.registry import ModelCard, register_model

BEAUTYGAN_PAPER = "Li et al., BeautyGAN: Instance-level Facial Makeup Transfer with Deep GAN, ACM MM 2018"


class BranchEncoder(nn.Module):
    """Conv7x7 -> IN -> ReLU (full resolution), then Conv4x4 stride 2 -> IN -> ReLU (half resolution).

    `stem_norm="affine"` puts a per-channel scale and shift after the first conv instead of IN, so the branch sees
    absolute colours (see `makeup.models.layers.ChannelAffine`).
    """

    def __init__(self, in_channels: int, widths: tuple[int, int], stem_norm: str = "instance") -> None:
        super().__init__()
        self.stem = ConvNormReLU(in_channels, widths[0], 7, norm=stem_norm)
        self.down = ConvNormReLU(widths[0], widths[1], 4, stride=2, padding=1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        full = self.stem(image)
        return full, self.down(full)


class TwoBranchEncoder(nn.Module):
    """One `BranchEncoder` per input, with separate weights; returns `{source,reference}_{full,half}`."""

    def __init__(self, widths: tuple[int, int], stem_norm: str = "instance") -> None:
        super().__init__()
        self.source = BranchEncoder(3, widths, stem_norm)
        self.reference = BranchEncoder(3, widths, stem_norm)

    def forward(self, source: torch.Tensor, reference: torch.Tensor) -> Features:
        source_full, source_half = self.source(source)
        reference_full, reference_half = self.reference(reference)
        return {
            "source_full": source_full,
            "source_half": source_half,
            "reference_full": reference_full,
            "reference_half": reference_half,
        }


# The copy gates' convs are scaled up by this much: Adam moves every weight by about the learning rate a step, and
# unscaled gates opened by 0.01 in 50 steps of a run at 1e-4, where they need to reach about 1.
COPY_GATE_SCALE = 10.0


class BeautyGANDecoder(nn.Module):
    """Conv4x4 stride 2 to quarter resolution, residual blocks, two transposed-conv upsamplings, two heads.

    `separable=True` uses depthwise-separable residual blocks (the kernel-decomposed teacher);
    `residual_output=True` makes both heads residual (see `OutputHead`): `forward` then needs the images they edit.
    `copy_gate=True` (residual heads only) adds to each head's output a per-pixel, per-channel gate times the
    other image minus the edited one. Everything above the heads works at a quarter of the resolution on
    instance-normalised features, which lose how light and how saturated a region of each image is; with a
    reference warped onto the source's geometry the gate copies its colours where makeup sits, exactly, as the
    example-based transfer does. The gates start at zero, so weights trained without them compute what they did.
    `copy_gate_dead_zone` closes gates smaller than it (and shrinks the rest by as much): trained gates stay a
    little open everywhere, and there a few hundredths of another face's skin, hair and background come across.
    Gates inside it get no gradient, so it is for gates already trained open, not for new ones.
    """

    def __init__(self, in_channels: int, width: int, residual_blocks: int, head_depth: int,
                 separable: bool = False, residual_output: bool = False, copy_gate: bool = False,
                 copy_gate_dead_zone: float = 0.0) -> None:
        super().__init__()
        if copy_gate and not residual_output:
            raise ValueError("copy_gate needs residual_output=True: the gate adds to the image a head edits")
        if copy_gate_dead_zone < 0:
            raise ValueError(f"copy_gate_dead_zone must be 0 or more (got {copy_gate_dead_zone})")
        block = DepthwiseSeparableResidualBlock if separable else ResidualBlock
        self.down = ConvNormReLU(in_channels, width, 4, stride=2, padding=1)
        self.blocks = nn.Sequential(*[block(width) for _ in range(residual_blocks)])
        self.up = nn.Sequential(ConvTransposeNormReLU(width, width // 2), ConvTransposeNormReLU(width // 2, width // 4))
        self.transferred_head = OutputHead(width // 4, head_depth, residual=residual_output)
        self.demakeup_head = OutputHead(width // 4, head_depth, residual=residual_output)
        self.copy_gates = nn.ModuleDict()
        self.copy_gate_dead_zone = copy_gate_dead_zone
        if copy_gate:
            for head in ("transferred", "demakeup"):
                gate = nn.Conv2d(width // 4, 3, 3, padding=1)
                nn.init.zeros_(gate.weight)
                nn.init.zeros_(gate.bias)
                self.copy_gates[head] = gate

    def forward(self, x: torch.Tensor, source: torch.Tensor | None = None,
                reference: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.up(self.blocks(self.down(x)))
        transferred, demakeup = self.transferred_head(x, source), self.demakeup_head(x, reference)
        if self.copy_gates:
            gates = {head: COPY_GATE_SCALE * gate(x) for head, gate in self.copy_gates.items()}
            if self.copy_gate_dead_zone:  # not at 0: softshrink has no gradient there, and new gates start at 0
                gates = {head: F.softshrink(g, self.copy_gate_dead_zone) for head, g in gates.items()}
            transferred = (transferred + gates["transferred"] * (reference - source)).clamp(-1.0, 1.0)
            demakeup = (demakeup + gates["demakeup"] * (source - reference)).clamp(-1.0, 1.0)
        return transferred, demakeup


class BeautyGAN(MakeupGenerator):
    """Two-branch BeautyGAN: separate source and reference encoders, concatenated at half resolution.

    `residual_output=True` (the teacher's card default) adds each head's output to its input image instead of drawing
    the image from scratch; `encode` then also returns the images as `source` and `reference`.
    `stem_norm="affine"` (also the card default) keeps absolute colours in both branches' first layer, where the
    paper's instance norm removes them; same parameters, and "instance" is the paper's generator.
    `copy_gate=True` adds the decoder's copy gates (see `BeautyGANDecoder`, also for `copy_gate_dead_zone`), for
    references warped onto the source.
    """

    # parameters that start at zero and leave the output as it was: weights saved without them still fit
    # (makeup.train.checkpoint.load_generator_weights)
    zero_started_parameters = ("decoder.copy_gates.",)

    def __init__(self, width: int = 64, residual_blocks: int = 6, head_depth: int = 2,
                 residual_output: bool = False, stem_norm: str = "instance", copy_gate: bool = False,
                 copy_gate_dead_zone: float = 0.0) -> None:
        super().__init__()
        self.residual_output = residual_output
        self.encoder = TwoBranchEncoder((width, 2 * width), stem_norm)
        self.decoder = BeautyGANDecoder(4 * width, 4 * width, residual_blocks, head_depth,
                                        residual_output=residual_output, copy_gate=copy_gate,
                                        copy_gate_dead_zone=copy_gate_dead_zone)

    def encode(self, source: torch.Tensor, reference: torch.Tensor) -> Features:
        source, reference = prepare_pair(source, reference)
        features = self.encoder(source, reference)
        if self.residual_output:
            features.update(source=source, reference=reference)
        return features

    def decode(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        joint = torch.cat([features["source_half"], features["reference_half"]], dim=1)
        return self.decoder(joint, features.get("source"), features.get("reference"))


class BeautyGANConcat(MakeupGenerator):
    """Concatenated-input BeautyGAN: one encoder over the 6-channel stack of source and reference."""

    def __init__(self, width: int = 64, residual_blocks: int = 6, head_depth: int = 0) -> None:
        super().__init__()
        self.encoder = BranchEncoder(6, (width, 2 * width))
        self.decoder = BeautyGANDecoder(2 * width, 4 * width, residual_blocks, head_depth)

    def encode(self, source: torch.Tensor, reference: torch.Tensor) -> Features:
        source, reference = prepare_pair(source, reference)
        joint_full, joint_half = self.encoder(torch.cat([source, reference], dim=1))
        return {"joint_full": joint_full, "joint_half": joint_half}

    def decode(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(features["joint_half"])


register_model(
    ModelCard(
        name="beautygan",
        kind="generator",
        method="BeautyGAN, two-branch generator (teacher)",
        paper=BEAUTYGAN_PAPER,
        params=9_237_376,
        gmacs=54.006,
        purpose="the teacher: best quality, the yardstick every student is measured against",
        config={"width": 64, "residual_blocks": 6, "head_depth": 2, "residual_output": True, "stem_norm": "affine",
                "copy_gate": False, "copy_gate_dead_zone": 0.0},
        notes="source and reference encoders 64/128 ch, 6 residual blocks of 256, two heads "
              "[Conv3x3-IN-ReLU]x2 -> Conv7x7 -> tanh; all convs bias-free, InstanceNorm affine. Unlike the paper, "
              "the heads' tanh outputs are added to the input images (residual_output; no extra parameters, output "
              "conv started at a tenth of its scale so training starts near the identity); "
              "residual_output=False is the paper's. The first conv of each branch is followed by a learned "
              "per-channel affine instead of IN (stem_norm), which would erase the images' absolute colours; "
              "stem_norm=\"instance\" is the paper's",
    ),
    BeautyGAN,
)
register_model(
    ModelCard(
        name="beautygan-concat",
        kind="generator",
        method="BeautyGAN, concatenated-input generator",
        paper=BEAUTYGAN_PAPER,
        params=8_433_664,
        gmacs=40.047,
        purpose="the 8.43 M variant other papers quote; a cheaper teacher",
        config={"width": 64, "residual_blocks": 6, "head_depth": 0},
        notes="one encoder over the 6-channel source+reference stack, bare Conv7x7 -> tanh heads",
    ),
    BeautyGANConcat,
)
