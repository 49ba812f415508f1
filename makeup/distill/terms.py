"""Distillation loss terms on the trainer's `LossTerm` interface: a student learns from a frozen teacher.

The teacher runs once per step, in inference mode, and every term reads the same pass (`teacher_pass`):

- `OutputDistillationTerm`: the student's outputs against the teacher's (L1).
- `FeatureDistillationTerm`: student features, lifted by a 1x1 adapter, against the teacher's (MSE).
- `RelationDistillationTerm`: semantic relations (Li, Jiang, Aarabi, ECCV 2020): the row-normalised HW x HW
  relation matrices of student and teacher features (squared row distance); no adapter, any channel counts.
- `CollaborativeDistillationTerm`: collaborative distillation (Wang et al., CVPR 2020; Yang et al., VCIP 2020):
  student features, embedded by 1x1 convs, feed the teacher's frozen decoder, and the task losses are computed on
  what that decoder makes of them.

Terms with adapters own parameters, which the optimiser must train with the student.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from makeup.distill.relation import relation_matrix
from makeup.losses.terms import GeneratorStep, LossTerm

TEACHER = "teacher"


@dataclass
class TeacherOutputs:
    features: dict[str, torch.Tensor]
    transferred: torch.Tensor
    demakeup: torch.Tensor


def teacher_pass(step: GeneratorStep, teacher: nn.Module) -> TeacherOutputs:
    """The teacher's features and outputs on this step's pair, computed once and shared by every term.

    Inference mode skips autograd bookkeeping; the results are cloned out of it so the losses can use them as
    constants in the student's graph."""
    if TEACHER not in step.cache:
        source, reference = step.batch["source"], step.batch["reference"]
        with torch.inference_mode():
            features = teacher.encode(source, reference)
            transferred, demakeup = teacher.decode(features)
        step.cache[TEACHER] = TeacherOutputs({key: value.clone() for key, value in features.items()},
                                             transferred.clone(), demakeup.clone())
    return step.cache[TEACHER]


class _TeacherTerm(LossTerm):
    def __init__(self, weight: float, teacher: nn.Module) -> None:
        super().__init__(weight)
        # kept out of the module tree: the teacher's weights are not the student's to train or checkpoint
        object.__setattr__(self, "teacher", teacher.eval().requires_grad_(False))


class OutputDistillationTerm(_TeacherTerm):
    """L1 between the student's and the teacher's outputs (both directions: makeup on, makeup off), plus
    `perceptual_weight` x the perceptual distance between them when a `perceptual` loss is given."""

    name = "kd_output"

    def __init__(self, weight: float, teacher: nn.Module, perceptual: nn.Module | None = None,
                 perceptual_weight: float = 0.0) -> None:
        super().__init__(weight, teacher)
        # the run's frozen backbone, shared with its other perceptual terms: not this term's to checkpoint
        object.__setattr__(self, "perceptual", perceptual if perceptual_weight > 0 else None)
        self.perceptual_weight = float(perceptual_weight)

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        teacher = teacher_pass(step, self.teacher)
        loss = F.l1_loss(step.transferred, teacher.transferred) + F.l1_loss(step.demakeup, teacher.demakeup)
        if self.perceptual is not None:
            loss = loss + self.perceptual_weight * (self.perceptual(step.transferred, teacher.transferred)
                                                    + self.perceptual(step.demakeup, teacher.demakeup))
        return loss


class FeatureDistillationTerm(_TeacherTerm):
    """MSE between student features lifted by a 1x1 adapter (none where the channel counts already agree) and the
    teacher's, per named layer pair.

    `layers` maps a student feature name to the teacher's; `channels` maps the student name to
    (student channels, teacher channels). Spatial sizes must agree (both encoders downsample alike)."""

    name = "kd_feature"

    def __init__(self, weight: float, teacher: nn.Module, layers: Mapping[str, str],
                 channels: Mapping[str, tuple[int, int]]) -> None:
        super().__init__(weight, teacher)
        self.layers = dict(layers)
        # features already at the teacher's width (ddb-student's lifted ones) are compared as they are
        self.adapters = nn.ModuleDict({
            name: nn.Identity() if channels[name][0] == channels[name][1] else nn.Conv2d(*channels[name], 1)
            for name in self.layers})

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        teacher = teacher_pass(step, self.teacher)
        losses = [F.mse_loss(self.adapters[student](step.features[student]), teacher.features[target])
                  for student, target in self.layers.items()]
        return torch.stack(losses).mean()


class RelationDistillationTerm(_TeacherTerm):
    """`relation_loss` between the relation matrices of student and teacher features, per named layer pair; maps above
    `max_side` are pooled first."""

    name = "srp"

    def __init__(self, weight: float, teacher: nn.Module, layers: Mapping[str, str], max_side: int = 64) -> None:
        super().__init__(weight, teacher)
        self.layers, self.max_side = dict(layers), max_side

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        teacher = teacher_pass(step, self.teacher)
        return torch.stack([relation_loss(step.features[student], teacher.features[target], self.max_side)
                            for student, target in self.layers.items()]).mean()


def relation_loss(student: torch.Tensor, teacher: torch.Tensor, max_side: int = 64) -> torch.Tensor:
    """The squared distance between matching rows of the two maps' relation matrices, averaged over rows (any
    channel counts, same spatial size). Rows are unit vectors, so it lies in [0, 4] whatever the map size: an
    element-wise mean would shrink with HW and need a weight for every resolution."""
    difference = relation_matrix(student, max_side) - relation_matrix(teacher, max_side)
    return difference.pow(2).sum(dim=-1).mean()


class CollaborativeDistillationTerm(_TeacherTerm):
    """Collaborative distillation: the student's encoder learns to feed the teacher's frozen decoder.

    Per layer pair a 1x1 conv (with `relu=True`, conv + ReLU, as in the published BeautyGAN student) embeds the
    student's features in the teacher's channels. The loss is the sum of
    - the feature loss: MSE between embedded and teacher features;
    - the reconstruction loss: L1 between what the frozen decoder makes of the embedded features and the teacher's
      own outputs (both directions), a target on every sample, real pairs included;
    - `task_terms` (the run's data terms: paired ground truth, pseudo targets, histogram, adversarial through the
      frozen discriminators), each at its own weight, on the decoder's outputs. Terms that need extra generator
      passes (cycle, identity) are left out: those passes are the student's own.
    The decoder's weights never train (they are not in any optimiser and need no gradient), but gradients flow
    through it into the embeddings and the student's encoder. A student with its own decoder keeps training it
    with the run's other terms; the embeddings are dropped at export.
    """

    name = "cd"

    def __init__(self, weight: float, teacher: nn.Module, layers: Mapping[str, str],
                 channels: Mapping[str, tuple[int, int]], task_terms: Sequence[LossTerm] = (),
                 relu: bool = False) -> None:
        super().__init__(weight, teacher)
        self.layers = dict(layers)
        self.embeddings = nn.ModuleDict({
            name: nn.Sequential(nn.Conv2d(*channels[name], kernel_size=1), *([nn.ReLU()] if relu else []))
            for name in self.layers
        })
        # kept out of the module tree, like the teacher: they belong to the run, not to this term
        object.__setattr__(self, "task_terms", [term for term in task_terms if not term.needs])

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        teacher = teacher_pass(step, self.teacher)
        embedded = {target: self.embeddings[student](step.features[student])
                    for student, target in self.layers.items()}
        feature_loss = torch.stack([F.mse_loss(embedded[target], teacher.features[target])
                                    for target in embedded]).mean()
        transferred, demakeup = self.teacher.decode({**teacher.features, **embedded})
        loss = feature_loss + F.l1_loss(transferred, teacher.transferred) + F.l1_loss(demakeup, teacher.demakeup)
        through_decoder = dataclasses.replace(step, transferred=transferred, demakeup=demakeup,
                                              features={**teacher.features, **embedded})
        for term in self.task_terms:
            loss = loss + term.weight * term(through_decoder)
        return loss
