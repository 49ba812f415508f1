"""The weights format: save -> load round trip, the manifest, and one specific error per fault."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from makeup.models import create_model, get_card
from makeup.models.working_size import AtWorkingSize
from makeup.bench.profile import example_inputs
from makeup.weights import (
    UNTRAINED_STATUS,
    ChecksumMismatchError,
    CorruptWeightsError,
    ManifestError,
    UntrainedModelWarning,
    WeightsError,
    WeightsMissingError,
    WrongArchitectureError,
    default_weights_dir,
    file_sha256,
    has_weights,
    load_model,
    load_weights_file,
    read_manifest,
    save_weights,
    weights_status,
)

NAME = "slim-s"  # the smallest model keeps these tests fast


@pytest.fixture
def saved(tmp_path: Path) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    model = create_model(NAME)
    path = save_weights(model, weights_dir=tmp_path, training={"steps": 3, "data": "unit test"},
                        trained_on="nothing (unit test)", metrics={"psnr": 1.5})
    return model, path


def _outputs(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        return model(*example_inputs("generator", 32))


def test_round_trip_in_float16(saved, tmp_path):
    model, path = saved
    assert path == tmp_path / get_card(NAME).weights_file
    loaded = load_model(NAME, weights_dir=tmp_path)
    assert not loaded.training and loaded.has_trained_weights
    assert loaded.training_summary == {"steps": 3, "data": "unit test"}
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value.half().float()), key
    for ours, theirs in zip(_outputs(model.eval()), _outputs(loaded)):
        assert torch.allclose(ours, theirs, atol=2e-2)
    with safe_open(path, "pt") as handle:
        metadata = handle.metadata()
        assert handle.get_tensor(next(iter(handle.keys()))).dtype == torch.float16
    assert metadata["architecture"] == NAME
    assert json.loads(metadata["config"]) == get_card(NAME).config
    assert json.loads(metadata["training"])["steps"] == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_float32_round_trip_is_exact(tmp_path):
    model = create_model(NAME)
    save_weights(model, weights_dir=tmp_path, dtype=torch.float32)
    loaded = load_model(NAME, weights_dir=tmp_path)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


def test_manifest_entry_and_status(saved, tmp_path):
    _, path = saved
    entry = read_manifest(tmp_path)["models"][NAME]
    card = get_card(NAME)
    assert entry["file"] == path.name and entry["sha256"] == file_sha256(path)
    assert entry["params"] == card.params and entry["gmacs"] == pytest.approx(card.gmacs, abs=1e-3)
    assert entry["trained_on"] == "nothing (unit test)" and entry["metrics"] == {"psnr": 1.5}
    assert entry["dtype"] == "float16" and entry["config"] == card.config
    assert has_weights(NAME, tmp_path) and not has_weights("slim-m", tmp_path)
    assert path.name in weights_status(NAME, tmp_path)
    assert weights_status("slim-m", tmp_path) == UNTRAINED_STATUS


def test_weights_trained_at_a_smaller_size_run_at_it_inside_larger_crops(tmp_path):
    torch.manual_seed(0)
    model = create_model(NAME)
    save_weights(model, weights_dir=tmp_path, dtype=torch.float32, working_size=32)
    entry = read_manifest(tmp_path)["models"][NAME]
    assert entry["working_size"] == 32 and entry["gmacs"] == pytest.approx(get_card(NAME).gmacs / 64, abs=1e-3)
    loaded = load_model(NAME, weights_dir=tmp_path)
    assert isinstance(loaded, AtWorkingSize) and loaded.working_size == 32 and loaded.has_trained_weights
    assert loaded.model_name == NAME and loaded.model_config == get_card(NAME).config
    raw = load_weights_file(tmp_path / entry["file"], at_working_size=False)
    assert not isinstance(raw, AtWorkingSize)
    source, reference = example_inputs("generator", 32)
    with torch.no_grad():
        # at the working size the weights run as they are
        assert all(torch.equal(a, b) for a, b in zip(loaded(source, reference), raw(source, reference)))
        big_source, big_reference = (image * 0.5 for image in example_inputs("generator", 128))  # no clamping
        transferred, demakeup = loaded(big_source, big_reference)
        assert transferred.shape == demakeup.shape == big_source.shape
        # the model's change, made at 32 px, is carried onto the 128 px input: same mean correction
        small = torch.nn.functional.interpolate(big_source, size=(32, 32), mode="bilinear", antialias=True)
        change_small = raw(small, torch.nn.functional.interpolate(big_reference, size=(32, 32), mode="bilinear",
                                                                   antialias=True))[0] - small
        assert (transferred - big_source).mean().item() == pytest.approx(change_small.mean().item(), abs=2e-3)


def test_a_generator_that_changes_nothing_leaves_large_crops_exactly_as_they_were():
    class Unchanged(torch.nn.Module):
        def forward(self, source, reference):
            return source, reference

    class Brighter(torch.nn.Module):
        def forward(self, source, reference):
            return source + 0.25, reference

    big = example_inputs("generator", 64)
    assert all(torch.equal(a, b) for a, b in zip(AtWorkingSize(Unchanged(), 16)(*big), big))
    small = example_inputs("generator", 12)  # no larger than the working size: straight through, not enlarged
    assert all(torch.equal(a, b) for a, b in zip(AtWorkingSize(Brighter(), 16)(*small), Brighter()(*small)))
    brighter, same = AtWorkingSize(Brighter(), 16)(*big)
    assert torch.allclose(brighter, (big[0] + 0.25).clamp(-1, 1), atol=1e-6) and torch.equal(same, big[1])
    with pytest.raises(ValueError, match="multiple of 4"):
        AtWorkingSize(Unchanged(), 30)


def test_overridden_config_is_rebuilt_and_its_macs_measured(tmp_path):
    save_weights(create_model(NAME, residual_blocks=1), weights_dir=tmp_path)
    entry = read_manifest(tmp_path)["models"][NAME]
    assert entry["config"]["residual_blocks"] == 1 and entry["gmacs"] < get_card(NAME).gmacs
    assert len(load_model(NAME, weights_dir=tmp_path).decoder.blocks) == 1


def test_unlisted_model_is_missing_unless_random_is_asked_for(tmp_path):
    with pytest.raises(WeightsMissingError, match="untrained") as error:
        load_model(NAME, weights_dir=tmp_path)
    assert "allow_random=True" in str(error.value)
    with pytest.warns(UntrainedModelWarning, match="RANDOM"):
        model = load_model(NAME, weights_dir=tmp_path, allow_random=True)
    assert model.has_trained_weights is False and not model.training


def test_listed_but_absent_file_is_missing(saved, tmp_path):
    _, path = saved
    path.unlink()
    with pytest.raises(WeightsMissingError, match="does not exist"):
        load_model(NAME, weights_dir=tmp_path, allow_random=True)
    assert not has_weights(NAME, tmp_path)
    assert "MISSING" in weights_status(NAME, tmp_path)


def test_changed_bytes_fail_the_checksum(saved, tmp_path):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # inside the tensor data, so the file still parses
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        load_model(NAME, weights_dir=tmp_path)


def test_truncated_file_is_reported_as_truncated(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptWeightsError, match="truncated"):
        load_model(NAME, weights_dir=tmp_path)
    path.write_bytes(b"\x00" * 5)
    with pytest.raises(CorruptWeightsError, match="too short"):
        load_weights_file(path)
    path.write_bytes(b"not a safetensors file at all, just text" * 10)
    with pytest.raises(CorruptWeightsError):
        load_weights_file(path)


def test_file_of_another_architecture_is_refused(saved, tmp_path):
    _, path = saved
    manifest = read_manifest(tmp_path)
    manifest["models"]["slim-m"] = dict(manifest["models"][NAME])  # same file, listed for another model
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WrongArchitectureError, match="holds weights for 'slim-s', not 'slim-m'"):
        load_model("slim-m", weights_dir=tmp_path)


def test_tensors_that_do_not_fit_the_architecture_are_refused(tmp_path):
    path = tmp_path / "odd.safetensors"
    state = {k: v.contiguous() for k, v in create_model(NAME, residual_blocks=2).state_dict().items()}
    metadata = {"format": "makeup-weights/1", "architecture": NAME, "config": json.dumps(get_card(NAME).config)}
    save_file(state, str(path), metadata=metadata)
    with pytest.raises(WrongArchitectureError, match="does not fit"):
        load_weights_file(path, NAME)
    save_file(state, str(path), metadata={"producer": "someone else"})
    with pytest.raises(WrongArchitectureError, match="not a makeup weights file"):
        load_weights_file(path)


def test_manifest_cannot_point_outside_the_weights_folder(saved, tmp_path):
    manifest = read_manifest(tmp_path)
    manifest["models"][NAME]["file"] = "../elsewhere.safetensors"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="plain file name"):
        load_model(NAME, weights_dir=tmp_path)
    (tmp_path / "manifest.json").write_text("{ not json")
    with pytest.raises(ManifestError):
        has_weights(NAME, tmp_path)


def test_every_error_is_a_weights_error():
    for error in (WeightsMissingError, ChecksumMismatchError, WrongArchitectureError, CorruptWeightsError,
                  ManifestError):
        assert issubclass(error, WeightsError)


def test_classical_methods_need_no_weights(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_model("classical", weights_dir=tmp_path)
    assert not model.training
    assert weights_status("classical", tmp_path).startswith("not needed")


def test_shipped_manifest_is_valid_and_untrained_models_say_so():
    manifest = read_manifest(default_weights_dir())
    assert manifest["format"] == 1
    for name, entry in manifest["models"].items():
        assert (default_weights_dir() / entry["file"]).is_file(), f"{name}: listed weights file is missing"
    for name in ("beautygan", "slim-s"):
        if name not in manifest["models"]:
            assert weights_status(name) == UNTRAINED_STATUS


@pytest.mark.parametrize("name", sorted(read_manifest(default_weights_dir())["models"]))
def test_shipped_weights_load_and_their_manifest_figures_match_the_profiler(name):
    from makeup.bench.profile import count_flops, count_params, example_inputs

    entry = read_manifest(default_weights_dir())["models"][name]
    model = load_model(name)
    assert model.has_trained_weights
    assert entry["params"] == count_params(model)
    # per 256 px crop, as the pipeline calls it: weights with a working size run at it
    assert entry["gmacs"] == pytest.approx(count_flops(model, *example_inputs("generator", size=256)) / 2e9,
                                           abs=2e-3)


# every shipped student is distilled from the teacher that ships (docs/compression.md)
STUDENTS_OF_THE_SHIPPED_TEACHER = ("slim-s", "slim-m", "slim-xs", "decomposed", "ddb-student")


@pytest.mark.parametrize("name", STUDENTS_OF_THE_SHIPPED_TEACHER)
def test_students_of_the_shipped_teacher_take_warped_references_and_its_lips(name):
    """Their weights say they take references warped onto the source and lay the example lips over their output,
    as the teacher does; the pipeline and the evaluation read exactly that."""
    from makeup.classical.example_lips import paints_lips_by_example
    from makeup.models.reference_input import warps_reference

    teacher, student = load_model("beautygan"), load_model(name)
    assert warps_reference(teacher) and paints_lips_by_example(teacher)
    assert warps_reference(student) and paints_lips_by_example(student)
    assert student.training_summary["config"]["teacher"] == "beautygan"
    assert read_manifest(default_weights_dir())["benchmarks"]["cpu"]["ms"][name] > 0
