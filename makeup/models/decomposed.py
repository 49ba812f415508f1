"""Kernel decomposition and its distilled student for BeautyGAN (Yang et al., VCIP 2020).

`decomposed`: the two-branch teacher with 9 depthwise-separable residual blocks. `ddb-student`: a width/4
two-branch encoder whose half-resolution features are lifted by 1x1 conv + ReLU to the teacher's width and
fed to the (frozen, during distillation) decomposed teacher decoder.
"""

from __future__ import annotations

import torch
from torch import nn

from makeup.models.base import Features, MakeupGenerator, prepare_pair
from makeup.models.beautygan import BeautyGANDecoder, TwoBranchEncoder
from makeup.models.registry import ModelCard, register_model

DECOMPOSITION_PAPER = (
    "Yang et al., Kernel Decomposition and Collaborative Distillation for compressing BeautyGAN, VCIP 2020"
)


def _encode_pair(model: MakeupGenerator, source: torch.Tensor, reference: torch.Tensor) -> Features:
    """The two-branch encoder's features, plus the images themselves when the heads are residual."""
    source, reference = prepare_pair(source, reference)
    features = model.encoder(source, reference)
    if model.residual_output:
        features.update(source=source, reference=reference)
    return features


def _decode_pair(decoder: BeautyGANDecoder, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
    joint = torch.cat([features["source_half"], features["reference_half"]], dim=1)
    return decoder(joint, features.get("source"), features.get("reference"))


class DecomposedBeautyGAN(MakeupGenerator):
    """The BeautyGAN teacher with every residual-block 3x3 conv replaced by depthwise 3x3 -> IN -> pointwise 1x1.

    `copy_gate` and `copy_gate_dead_zone` as in BeautyGAN's decoder, so that a teacher with copy gates decomposes.
    """

    def __init__(self, width: int = 64, residual_blocks: int = 9, head_depth: int = 2,
                 residual_output: bool = False, stem_norm: str = "instance", copy_gate: bool = False,
                 copy_gate_dead_zone: float = 0.0) -> None:
        super().__init__()
        self.residual_output = residual_output
        self.encoder = TwoBranchEncoder((width, 2 * width), stem_norm)
        self.decoder = BeautyGANDecoder(4 * width, 4 * width, residual_blocks, head_depth, separable=True,
                                        residual_output=residual_output, copy_gate=copy_gate,
                                        copy_gate_dead_zone=copy_gate_dead_zone)

    def encode(self, source: torch.Tensor, reference: torch.Tensor) -> Features:
        return _encode_pair(self, source, reference)

    def decode(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        return _decode_pair(self.decoder, features)


class DDBStudent(MakeupGenerator):
    """Width/4 two-branch encoder -> 1x1 conv + ReLU lifts -> the decomposed teacher's decoder.

    `encoder`, `lifts` and `decoder` are separate modules so the decoder can be loaded from the decomposed
    teacher and frozen. `encode` returns the lifted half-resolution features (teacher width, what `decode`
    reads) and the student's own full-resolution features (student width) under the teacher's key names.
    """

    def __init__(self, width: int = 16, teacher_width: int = 64, residual_blocks: int = 9,
                 head_depth: int = 2, residual_output: bool = False, stem_norm: str = "instance",
                 copy_gate: bool = False, copy_gate_dead_zone: float = 0.0) -> None:
        super().__init__()
        self.residual_output = residual_output
        self.encoder = TwoBranchEncoder((width, 2 * width), stem_norm)
        self.lifts = nn.ModuleDict({
            branch: nn.Sequential(nn.Conv2d(2 * width, 2 * teacher_width, 1), nn.ReLU(inplace=True))
            for branch in ("source", "reference")
        })
        self.decoder = BeautyGANDecoder(4 * teacher_width, 4 * teacher_width, residual_blocks, head_depth,
                                        separable=True, residual_output=residual_output, copy_gate=copy_gate,
                                        copy_gate_dead_zone=copy_gate_dead_zone)

    def encode(self, source: torch.Tensor, reference: torch.Tensor) -> Features:
        features = _encode_pair(self, source, reference)
        for branch in ("source", "reference"):
            features[f"{branch}_half"] = self.lifts[branch](features[f"{branch}_half"])
        return features

    def decode(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        return _decode_pair(self.decoder, features)


register_model(
    ModelCard(
        name="decomposed",
        kind="generator",
        method="kernel-decomposed BeautyGAN",
        paper=DECOMPOSITION_PAPER,
        params=3_392_896,
        gmacs=30.017,
        purpose="teacher of the published student; its decoder is the student's frozen decoder",
        config={"width": 64, "residual_blocks": 9, "head_depth": 2, "residual_output": False,
                "stem_norm": "instance", "copy_gate": False, "copy_gate_dead_zone": 0.0},
        notes="9 residual blocks of 256, each (DW3x3 -> IN -> PW1x1) -> IN -> ReLU -> (DW3x3 -> IN -> PW1x1) -> IN "
              "+ skip; encoder, down-sampling, up-sampling and heads as in beautygan",
    ),
    DecomposedBeautyGAN,
)
register_model(
    ModelCard(
        name="ddb-student",
        kind="generator",
        method="kernel decomposition + collaborative distillation student",
        paper=DECOMPOSITION_PAPER,
        params=3_140_896,
        gmacs=25.199,
        purpose="the published compressed student (2.1x fewer MACs than beautygan)",
        config={"width": 16, "teacher_width": 64, "residual_blocks": 9, "head_depth": 2, "residual_output": False,
                "stem_norm": "instance", "copy_gate": False, "copy_gate_dead_zone": 0.0},
        notes="two-branch encoder 16/32 ch, 1x1 conv + ReLU lifts 32 -> 128 per branch, decomposed teacher "
              "decoder; the feature loss at full resolution needs a 16 -> 64 adapter outside the model (deployed "
              "count, as published)",
    ),
    DDBStudent,
)
