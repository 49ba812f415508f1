"""Distillation terms on tiny tensors and tiny models: what each measures, and that the teacher stays frozen."""

from __future__ import annotations

import torch

from makeup.distill import (FeatureDistillationTerm, OutputDistillationTerm, RelationDistillationTerm,
                            relation_loss, teacher_pass)
from makeup.losses.terms import GeneratorStep
from makeup.models import create_model

SIZE = 32


def _models():
    torch.manual_seed(0)
    teacher = create_model("beautygan", width=8, residual_blocks=1).eval()
    student = create_model("slim-s", width=4, bottleneck=8, residual_blocks=1, head_width=4)
    return teacher, student


def _step(student, teacher=None):
    torch.manual_seed(1)
    batch = {"source": torch.rand(2, 3, SIZE, SIZE) * 2 - 1, "reference": torch.rand(2, 3, SIZE, SIZE) * 2 - 1,
             "kind": ["synthetic", "real"]}
    model = teacher if teacher is not None else student
    features = model.encode(batch["source"], batch["reference"])
    transferred, demakeup = model.decode(features)
    return GeneratorStep(batch, transferred, demakeup, features, model, {})


def test_relation_loss_ignores_channel_count_and_scale():
    torch.manual_seed(0)
    features = torch.randn(1, 8, 16, 16)
    assert relation_loss(torch.cat([features] * 4, dim=1) * 5.0, features).item() < 1e-10
    assert relation_loss(torch.randn(1, 8, 16, 16), features).item() > 1e-4


def test_output_distillation_is_zero_for_the_teacher_itself_and_the_teacher_runs_once():
    teacher, student = _models()
    step = _step(student, teacher)
    calls = []
    encode = teacher.encode
    teacher.encode = lambda *args: calls.append(1) or encode(*args)
    assert OutputDistillationTerm(1.0, teacher)(step).item() < 1e-6
    RelationDistillationTerm(1.0, teacher, {"source_half": "source_half"})(step)
    assert len(calls) == 1  # every term reads the same teacher pass


def test_terms_train_the_student_never_the_teacher():
    teacher, student = _models()
    before = {key: value.clone() for key, value in teacher.state_dict().items()}
    feature = FeatureDistillationTerm(1.0, teacher, {"source_half": "source_half"}, {"source_half": (4, 16)})
    terms = [OutputDistillationTerm(1.0, teacher), feature,
             RelationDistillationTerm(1.0, teacher, {"source_half": "source_half"})]
    assert not any(name.startswith("teacher") for name, _ in feature.named_parameters())
    optimizer = torch.optim.Adam([*student.parameters(), *feature.parameters()], lr=1e-2)
    first = last = None
    for _ in range(15):
        step = _step(student)
        loss = sum(term(step) for term in terms)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = first if first is not None else loss.item()
        last = loss.item()
    assert last < first  # the student moves toward the teacher
    assert all(torch.equal(before[key], value) for key, value in teacher.state_dict().items())
    assert all(parameter.grad is None for parameter in teacher.parameters())


def test_teacher_pass_outputs_can_be_used_in_the_students_graph():
    teacher, student = _models()
    step = _step(student)
    outputs = teacher_pass(step, teacher)
    assert not outputs.transferred.is_inference()
    (step.transferred - outputs.transferred).abs().mean().backward()
