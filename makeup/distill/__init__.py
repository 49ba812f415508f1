"""Distillation from the teacher to the students (semantic relations today; more terms join this package)."""

from makeup.distill.relation import relation_matrix

__all__ = ["relation_matrix"]
