"""Distillation terms on tiny tensors and tiny models: what each measures, and that the teacher stays frozen."""

from __future__ import annotations

import json

import torch

from makeup.distill import (
    CollaborativeDistillationTerm,
    FeatureDistillationTerm,
    OutputDistillationTerm,
    RelationDistillationTerm,
    relation_loss,
    teacher_pass,
)
from makeup.losses.terms import GeneratorStep, LossTerm
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


HALVES = {"source_half": "source_half", "reference_half": "reference_half"}


def _identity_embedding(term: CollaborativeDistillationTerm) -> None:
    with torch.no_grad():
        for embedding in term.embeddings.values():
            conv = embedding[0]
            conv.weight.copy_(torch.eye(conv.out_channels).view_as(conv.weight))
            conv.bias.zero_()


def test_collaborative_loss_is_zero_when_the_student_reproduces_the_teachers_features():
    teacher, _ = _models()
    step = _step(teacher, teacher)  # a "student" whose features are the teacher's: the embedding has to be 1
    term = CollaborativeDistillationTerm(1.0, teacher, HALVES, {name: (16, 16) for name in HALVES})
    _identity_embedding(term)
    assert term(step).item() < 1e-6
    with torch.no_grad():
        term.embeddings["source_half"][0].weight.mul_(0.5)
    assert term(step).item() > 1e-3


class _RecordingTerm(LossTerm):
    """A task term that remembers which outputs it was given."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__(1.0)
        self.seen = []

    def forward(self, step: GeneratorStep) -> torch.Tensor:
        self.seen.append(step.transferred)
        return step.transferred.abs().mean() * 0.0


def test_collaborative_task_terms_see_the_frozen_decoders_outputs_and_only_the_student_trains():
    teacher, student = _models()
    before = {key: value.clone() for key, value in teacher.state_dict().items()}
    recording = _RecordingTerm()
    term = CollaborativeDistillationTerm(1.0, teacher, HALVES, {name: (4, 16) for name in HALVES},
                                         task_terms=[recording], relu=True)
    assert isinstance(term.embeddings["source_half"][1], torch.nn.ReLU)
    assert not any(name.startswith(("teacher", "task_terms")) for name, _ in term.named_parameters())
    optimizer = torch.optim.Adam([*student.encoder.parameters(), *term.parameters()], lr=1e-2)
    losses = []
    for _ in range(15):
        step = _step(student)
        loss = term(step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]  # the student's encoder learns to feed the teacher's decoder
    assert recording.seen and all(seen.shape == step.transferred.shape for seen in recording.seen)
    assert not any(seen is step.transferred for seen in recording.seen)  # the decoder's outputs, not the student's
    assert all(torch.equal(before[key], value) for key, value in teacher.state_dict().items())
    assert all(parameter.grad is None for parameter in teacher.parameters())
    assert student.encoder["source"][0][0].weight.grad is not None  # gradients reach the student through it


def test_a_few_step_student_run_learns_from_the_teacher_and_leaves_it_alone(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_train import TinyFaces, tiny_config

    from makeup.train import checkpoint, train
    from makeup.train.log import LOG_FILE, read_log
    from makeup.weights import file_sha256, save_weights

    torch.manual_seed(0)
    teacher = create_model("beautygan", width=8, residual_blocks=1)
    weights = save_weights(teacher, "beautygan", tmp_path / "weights")
    before = file_sha256(weights)
    student = {"generator": "slim-s", "generator_options": {"width": 4, "bottleneck": 8, "residual_blocks": 1,
                                                            "head_width": 4}}
    config = tiny_config(tmp_path / "run", steps=30, lr_generator=3e-3, checkpoint_every=15, teacher=str(weights),
                         distill_output_weight=1.0, distill_feature_weight=1.0, distill_relation_weight=1.0,
                         distill_collaborative_weight=1.0, adversarial_weight=0.0, **student)
    finished = train(config, dataset=TinyFaces(count=1))
    log = read_log(tmp_path / "run" / LOG_FILE)
    for name in ("kd_output", "kd_feature", "srp", "cd"):
        values = [record[f"loss/{name}"] for record in log]
        assert sum(values[-5:]) < sum(values[:5]), name  # each distillation loss falls
    assert file_sha256(weights) == before  # the teacher's file is never written
    saved = checkpoint.load_model_tensors(checkpoint.find_checkpoint(tmp_path / "run"))
    assert any(key.startswith("kd_feature.adapters.") for key in saved["terms"])  # the adapters are checkpointed
    assert any(key.startswith("cd.embeddings.") for key in saved["terms"])
    assert finished.step == 30
    from makeup.train.export import export_generator

    export_generator(tmp_path / "run", "slim-s", weights_dir=tmp_path / "student")
    card = (tmp_path / "student" / "slim-s.md").read_text()
    assert f"- distilled from: `{weights}`; output 1.0, feature 1.0, semantic relation 1.0, collaborative 1.0" in card
    resumed = train(tiny_config(tmp_path / "run", steps=32, checkpoint_every=15, teacher=str(weights),
                                distill_output_weight=1.0, distill_feature_weight=1.0, distill_relation_weight=1.0,
                                distill_collaborative_weight=1.0, adversarial_weight=0.0, **student),
                    dataset=TinyFaces(count=1), resume=True)
    assert resumed.step == 32
    # a second stage from the exported student: its card names both stages' distillation
    train(tiny_config(tmp_path / "stage2", steps=2, checkpoint_every=2, teacher=str(weights),
                      distill_output_weight=1.0, adversarial_weight=0.0, **student),
          dataset=TinyFaces(count=1), init_from=tmp_path / "student" / "slim-s.safetensors")
    export_generator(tmp_path / "stage2", "slim-s", weights_dir=tmp_path / "stage2-weights")
    card = (tmp_path / "stage2-weights" / "slim-s.md").read_text()
    assert "semantic relation 0.0, collaborative 0.0" in card.split("- started from:")[0]
    assert (f"; distilled from `{weights}`, output 1.0, feature 1.0, semantic relation 1.0, collaborative 1.0"
            in card.split("- started from:")[1])


def test_output_distillation_adds_a_perceptual_distance_when_asked():
    from makeup.losses.perceptual import PerceptualLoss, create_backbone

    teacher, student = _models()
    step = _step(student)
    plain = OutputDistillationTerm(1.0, teacher)(step)
    torch.manual_seed(0)
    perceptual = PerceptualLoss(create_backbone("tiny-random"))
    both = OutputDistillationTerm(1.0, teacher, perceptual, perceptual_weight=2.0)
    expected = plain + 2.0 * (perceptual(step.transferred, step.cache["teacher"].transferred)
                              + perceptual(step.demakeup, step.cache["teacher"].demakeup))
    assert torch.allclose(both(step), expected)
    assert not list(both.parameters())  # the backbone is the run's, not the term's


def test_distillation_weights_without_a_teacher_are_refused(tmp_path):
    import pytest

    from makeup.distill.build import build_distill_terms
    from makeup.train import TrainConfig

    with pytest.raises(ValueError, match="no teacher"):
        build_distill_terms(TrainConfig(distill_relation_weight=1.0), create_model("slim-s"))
    with pytest.raises(ValueError, match="needs a perceptual backbone"):
        build_distill_terms(TrainConfig(teacher="beautygan", distill_output_weight=1.0, perceptual_backbone="none",
                                        distill_output_perceptual_weight=1.0, warp_reference=True),
                            create_model("slim-s"))


def test_a_student_must_see_its_references_as_its_teacher_did(tmp_path):
    import pytest

    from makeup.distill.build import build_distill_terms
    from makeup.train import TrainConfig
    from makeup.weights import save_weights

    teacher = create_model("beautygan", width=8, residual_blocks=1)
    warped = save_weights(teacher, "beautygan", tmp_path, update_manifest=False,
                          training={"config": {"warp_reference": True}})
    with pytest.raises(ValueError, match="set warp_reference = true"):
        build_distill_terms(TrainConfig(teacher=str(warped), distill_output_weight=1.0), create_model("slim-s"))
    terms = build_distill_terms(TrainConfig(teacher=str(warped), distill_output_weight=1.0, warp_reference=True),
                                create_model("slim-s"))
    assert len(terms) == 1
    plain = save_weights(teacher, "beautygan", tmp_path / "plain", update_manifest=False, training={"config": {}})
    with pytest.raises(ValueError, match="set warp_reference = false"):
        build_distill_terms(TrainConfig(teacher=str(plain), distill_output_weight=1.0, warp_reference=True),
                            create_model("slim-s"))
    with pytest.raises(ValueError, match="set warp_reference = true"):  # the shipped teacher takes warped references
        build_distill_terms(TrainConfig(teacher="beautygan", distill_output_weight=1.0), create_model("slim-s"))


def tiny_student_recipe(tmp_path, monkeypatch, extra: str):
    """A `makeup train student` recipe small enough for a few CPU steps, `extra` (TOML lines) appended; the trainer
    reads test_train's TinyFaces instead of a prepared cache."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_train import SIZE, TinyFaces

    monkeypatch.setattr("makeup.train.trainer.build_dataset", lambda config: TinyFaces())
    recipe = tmp_path / "student.toml"
    recipe.write_text(f"""image_size = {SIZE}
batch_size = 1
num_workers = 0
augment = false
perceptual_backbone = "none"
perceptual_weight = 0.0
paired_perceptual_weight = 0.0
generator_options = {{ width = 4, bottleneck = 8, residual_blocks = 1, head_width = 4 }}
sample_every = 0
progress = false
""" + extra)
    return recipe


def test_the_student_command_switches_on_exactly_the_chosen_methods(tmp_path, monkeypatch):
    from makeup.cli import main
    from makeup.train.log import LOG_FILE, read_log
    from makeup.weights import save_weights

    torch.manual_seed(0)
    weights = save_weights(create_model("beautygan", width=8, residual_blocks=1), "beautygan", tmp_path / "weights")
    recipe = tiny_student_recipe(tmp_path, monkeypatch, """discriminator_options = { width = 8 }
log_every = 1
distill_relation_weight = 0.5
distill_output_weight = 2.0
""")
    code = main(["train", "student", "--config", str(recipe), "--arch", "slim-s", "--teacher", str(weights),
                 "--methods", "srp,feature,cd", "--out-dir", str(tmp_path / "run"), "--steps", "2"])
    assert code == 0
    record = read_log(tmp_path / "run" / LOG_FILE)[-1]
    assert "loss/srp" in record and "loss/kd_feature" in record and "loss/cd" in record
    assert "loss/kd_output" not in record
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["generator"] == "slim-s" and saved["teacher"] == str(weights)
    assert saved["distill_relation_weight"] == 0.5  # the recipe's weight is kept
    assert saved["distill_feature_weight"] == 1.0 and saved["distill_output_weight"] == 0.0
    assert saved["distill_collaborative_weight"] == 1.0


def test_the_student_command_keeps_the_teacher_its_config_file_names(tmp_path, monkeypatch):
    """A recipe's `teacher` is the one distilled from; `--teacher` overrides it; beautygan only when neither names
    one (a student distilled from another teacher than its recipe says would ship without a word)."""
    from makeup.cli import main
    from makeup.weights import save_weights

    torch.manual_seed(0)
    named = save_weights(create_model("beautygan", width=8, residual_blocks=1), "beautygan", tmp_path / "named")
    flagged = save_weights(create_model("beautygan", width=8, residual_blocks=1), "beautygan", tmp_path / "flagged")
    recipe = tiny_student_recipe(tmp_path, monkeypatch, f'teacher = "{named}"\n')

    def teacher_of(run: str, *flags: str) -> str:
        code = main(["train", "student", "--config", str(recipe), "--arch", "slim-s", "--methods", "kd",
                     "--out-dir", str(tmp_path / run), "--steps", "1", *flags])
        assert code == 0
        return json.loads((tmp_path / run / "config.json").read_text())["teacher"]

    assert teacher_of("from-recipe") == str(named)
    assert teacher_of("from-flag", "--teacher", str(flagged)) == str(flagged)


def test_ddb_student_trains_its_encoder_into_the_frozen_decomposed_decoder(tmp_path):
    """The published recipe: the decoder comes from the decomposed teacher and never changes; the encoder and the
    1x1 + ReLU lifts learn, with the feature loss on the lifted features (no adapter: same width)."""
    import sys
    from pathlib import Path

    import pytest

    sys.path.insert(0, str(Path(__file__).parent))
    from test_train import TinyFaces, tiny_config

    from makeup.train import checkpoint, train
    from makeup.train.submodules import SubmoduleError
    from makeup.weights import load_weights_file, save_weights

    small = {"residual_blocks": 1, "residual_output": True, "stem_norm": "affine"}
    torch.manual_seed(0)
    decomposed = create_model("decomposed", width=8, **small)
    weights = save_weights(decomposed, "decomposed", tmp_path / "weights")
    student = {"generator": "ddb-student", "generator_options": {"width": 4, "teacher_width": 8, **small}}
    config = tiny_config(tmp_path / "run", steps=8, lr_generator=3e-3, checkpoint_every=8, teacher=str(weights),
                         init_modules={"decoder": str(weights)}, frozen_modules=["decoder"],
                         distill_feature_weight=1.0, distill_output_weight=1.0, adversarial_weight=0.0, **student)
    train(config, dataset=TinyFaces(count=1))
    saved = checkpoint.load_model_tensors(checkpoint.find_checkpoint(tmp_path / "run"))
    shipped_decoder = load_weights_file(weights).decoder.state_dict()  # as saved: fp16
    for key, value in shipped_decoder.items():
        assert torch.equal(saved["generator"][f"decoder.{key}"], value.float()), key
    fresh = create_model("ddb-student", width=4, teacher_width=8, **small).state_dict()
    assert not torch.equal(saved["generator"]["lifts.source.0.weight"], fresh["lifts.source.0.weight"])
    assert "terms" not in saved  # the lifted features need no adapter
    from makeup.train.export import export_generator

    export_generator(tmp_path / "run", "ddb-student", weights_dir=tmp_path / "student")
    assert f"- `decoder` taken from `{weights}` and frozen" in (tmp_path / "student" / "ddb-student.md").read_text()
    with pytest.raises(SubmoduleError, match="no submodule 'decodr'"):
        train(tiny_config(tmp_path / "bad", frozen_modules=["decodr"], adversarial_weight=0.0, **student),
              dataset=TinyFaces(count=1))
