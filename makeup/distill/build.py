"""The distillation terms a training config asks for, around a frozen teacher."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from makeup.distill.terms import (
    CollaborativeDistillationTerm,
    FeatureDistillationTerm,
    OutputDistillationTerm,
    RelationDistillationTerm,
)
from makeup.losses.terms import LossTerm
from makeup.models.reference_input import warps_reference


def load_teacher(spec: str, device: torch.device | str = "cpu") -> nn.Module:
    """The frozen teacher: a registry name with trained weights, or a .safetensors weights file.

    Weights trained at a smaller size come wrapped to run at it; distillation wants the raw network, at the
    student's training size."""
    from makeup.weights import load_model, load_weights_file

    model = load_weights_file(spec, device=device) if Path(spec).suffix == ".safetensors" else load_model(
        spec, device=device)
    summary = getattr(model, "training_summary", {})
    model = getattr(model, "generator", model)
    model.training_summary = summary  # how it was trained: whether it takes warped references, among others
    return model.to(device).eval().requires_grad_(False)


def build_distill_terms(config, student: nn.Module, device: torch.device | str = "cpu",
                        task_terms: Sequence[LossTerm] = ()) -> list[LossTerm]:
    """The terms of `config`'s distillation weights that are above 0 (none without a teacher). `task_terms` (the
    run's data terms) are what collaborative distillation also computes through the teacher's decoder."""
    wanted = (config.distill_output_weight, config.distill_feature_weight, config.distill_relation_weight,
              config.distill_collaborative_weight)
    if not config.teacher:
        if any(wanted):
            raise ValueError("distillation weights are set but no teacher is: set teacher = NAME or a weights file")
        return []
    teacher = load_teacher(config.teacher, device)
    teacher_warps = warps_reference(teacher)
    if teacher_warps != bool(config.warp_reference):
        raise ValueError(
            f"the teacher {config.teacher!r} was trained {'with' if teacher_warps else 'without'} "
            f"warp_reference, the student's config says {bool(config.warp_reference)}: set warp_reference = "
            f"{str(teacher_warps).lower()} so the student sees its references as the teacher did"
        )
    layers = dict(config.distill_layers)
    terms: list[LossTerm] = []
    if config.distill_output_weight > 0:
        terms.append(OutputDistillationTerm(config.distill_output_weight, teacher, _perceptual(config, device),
                                            config.distill_output_perceptual_weight))
    if config.distill_feature_weight > 0 or config.distill_collaborative_weight > 0:
        channels = _channels(student, teacher, layers, config.image_size, device)
    if config.distill_feature_weight > 0:
        terms.append(FeatureDistillationTerm(config.distill_feature_weight, teacher, layers, channels))
    if config.distill_relation_weight > 0:
        terms.append(RelationDistillationTerm(config.distill_relation_weight, teacher, layers,
                                              config.distill_max_side))
    if config.distill_collaborative_weight > 0:
        terms.append(CollaborativeDistillationTerm(config.distill_collaborative_weight, teacher, layers, channels,
                                                   task_terms, relu=config.distill_collaborative_relu))
    return [term.to(device) for term in terms]


def _channels(student: nn.Module, teacher: nn.Module, layers: dict[str, str], size: int,
              device: torch.device | str) -> dict[str, tuple[int, int]]:
    """(student channels, teacher channels) per layer pair, read from one pass on a blank pair."""
    blank = torch.zeros(1, 3, size, size, device=device)
    with torch.no_grad():
        was_training = student.training
        student_features = student.eval().encode(blank, blank)
        student.train(was_training)
        teacher_features = teacher.encode(blank, blank)
    missing = [name for name in layers if name not in student_features] + \
        [name for name in layers.values() if name not in teacher_features]
    if missing:
        raise ValueError(f"distill_layers name features the models do not have: {missing}; student: "
                         f"{sorted(student_features)}, teacher: {sorted(teacher_features)}")
    return {name: (student_features[name].shape[1], teacher_features[target].shape[1])
            for name, target in layers.items()}


def _perceptual(config, device: torch.device | str) -> nn.Module | None:
    """The perceptual loss of output distillation, when its weight asks for one."""
    if config.distill_output_perceptual_weight <= 0:
        return None
    if config.perceptual_backbone == "none":
        raise ValueError("distill_output_perceptual_weight needs a perceptual backbone: set perceptual_backbone "
                         "(and perceptual_weights_path for vgg16)")
    from makeup.losses.perceptual import PerceptualLoss, create_backbone

    backbone = create_backbone(config.perceptual_backbone, config.perceptual_weights_path)
    return PerceptualLoss(backbone).to(device)
