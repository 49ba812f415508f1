"""Distillation from the teacher to the students: loss terms on the trainer's `LossTerm` interface."""

from makeup.distill.relation import relation_matrix
from makeup.distill.terms import (
    CollaborativeDistillationTerm,
    FeatureDistillationTerm,
    OutputDistillationTerm,
    RelationDistillationTerm,
    relation_loss,
    teacher_pass,
)

__all__ = [
    "CollaborativeDistillationTerm",
    "FeatureDistillationTerm",
    "OutputDistillationTerm",
    "RelationDistillationTerm",
    "relation_loss",
    "relation_matrix",
    "teacher_pass",
]
