"""`makeup export`: a training checkpoint's generator -> weights/ (safetensors, manifest, card) -> load_model."""

from __future__ import annotations

import json

import pytest
import torch

from makeup.cli import main as cli_main
from makeup.train import checkpoint
from makeup.train.export import export_generator
from makeup.weights import load_model, read_manifest

torch.set_num_threads(1)
GENERATOR_OPTIONS = {"width": 8, "residual_blocks": 1}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from test_train import TinyFaces, tiny_config

    from makeup.train import train

    out = tmp_path_factory.mktemp("run")
    config = tiny_config(out, steps=2, checkpoint_every=2, generator_options=GENERATOR_OPTIONS)
    finished = train(config, dataset=TinyFaces(count=2))
    return out, finished.generator.eval()


def _outputs(model):
    generator = torch.Generator().manual_seed(3)
    source, reference = (torch.rand(1, 3, 32, 32, generator=generator) * 2 - 1 for _ in range(2))
    with torch.no_grad():
        return model(source, reference)


def test_export_fp32_round_trip_gives_the_trained_generator(trained_run, tmp_path):
    run, generator = trained_run
    (tmp_path / "eval.json").write_text(json.dumps({"psnr": 21.5, "lips_ciede2000": 7.25}))
    code = cli_main(["export", str(run), "--name", "beautygan", "--dtype", "fp32",
                     "--weights-dir", str(tmp_path / "weights"), "--metrics", str(tmp_path / "eval.json")])
    assert code == 0
    loaded = load_model("beautygan", weights_dir=tmp_path / "weights")
    for exported, original in zip(_outputs(loaded), _outputs(generator)):
        assert torch.equal(exported, original)
    entry = read_manifest(tmp_path / "weights")["models"]["beautygan"]
    assert entry["metrics"] == {"psnr": 21.5, "lips_ciede2000": 7.25}
    assert entry["config"] == {"width": 8, "residual_blocks": 1, "head_depth": 2, "residual_output": True,
                               "stem_norm": "affine", "copy_gate": False,
                               "copy_gate_dead_zone": 0.0}
    assert entry["working_size"] == 64  # the run's image_size: larger crops are run at 64 px
    assert entry["dtype"] == "float32"
    summary = loaded.training_summary
    assert summary["steps"] == 2 and summary["config"]["generator_options"] == GENERATOR_OPTIONS
    assert "loss/generator" in summary["last_losses"]
    card = (tmp_path / "weights" / "beautygan.md").read_text()
    assert "2 steps" in card and "psnr" in card and "runs at 64 px" in card


def test_export_fp16_is_close_and_half_the_size(trained_run, tmp_path):
    run, generator = trained_run
    path16 = export_generator(run, "beautygan", dtype="fp16", weights_dir=tmp_path / "w16")
    path32 = export_generator(run, "beautygan", dtype="fp32", weights_dir=tmp_path / "w32")
    assert path16.stat().st_size < 0.6 * path32.stat().st_size
    loaded = load_model("beautygan", weights_dir=tmp_path / "w16")
    for exported, original in zip(_outputs(loaded), _outputs(generator)):
        assert (exported - original).abs().max() < 0.05


def test_export_refuses_a_name_that_is_not_the_trained_generator(trained_run, tmp_path):
    run, _ = trained_run
    with pytest.raises(checkpoint.CheckpointError, match="--name beautygan"):
        export_generator(run, "beautygan-concat", weights_dir=tmp_path)
    with pytest.raises(checkpoint.CheckpointError, match="no training checkpoint"):
        export_generator(tmp_path / "nothing", "beautygan", weights_dir=tmp_path)


def test_a_run_started_from_another_lists_both_stages_in_its_card(trained_run, tmp_path):
    from test_train import TinyFaces, tiny_config

    from makeup.train import train

    first, _ = trained_run
    second = tmp_path / "second"
    config = tiny_config(second, steps=1, checkpoint_every=1, generator_options=GENERATOR_OPTIONS,
                         synthetic_look_weights={"bold-eyes": 1.0})
    train(config, dataset=TinyFaces(count=2), init_from=first)
    export_generator(second, "beautygan", weights_dir=tmp_path / "weights")
    card = (tmp_path / "weights" / "beautygan.md").read_text()
    assert "1 steps" in card and "synthetic looks {'bold-eyes': 1.0}" in card
    assert f"- started from: `{checkpoint.find_checkpoint(first)}`, 2 steps of batch" in card
    summary = load_model("beautygan", weights_dir=tmp_path / "weights").training_summary
    assert summary["started_from"]["step"] == 2 and summary["started_from"]["started_from"] is None
    # starting afresh in the same folder forgets the earlier stage
    afresh = tiny_config(second, steps=1, checkpoint_every=1, generator_options=GENERATOR_OPTIONS)
    train(afresh, dataset=TinyFaces(count=2))
    assert checkpoint.read_start(second) is None


def test_an_export_averaged_with_other_weights_that_asks_for_example_lips(trained_run, tmp_path, capsys):
    from makeup.models import create_model
    from makeup.classical.example_lips import paints_lips_by_example
    from makeup.weights import save_weights

    run, generator = trained_run
    other = create_model("beautygan", **GENERATOR_OPTIONS)
    with torch.no_grad():
        for mine, theirs in zip(generator.parameters(), other.parameters()):
            theirs.copy_(mine + 1.0)
    other_file = save_weights(other, "beautygan", tmp_path / "other", dtype=torch.float32, update_manifest=False)
    code = cli_main(["export", str(run), "--name", "beautygan", "--dtype", "fp32", "--weights-dir",
                     str(tmp_path / "weights"), "--average-with", str(other_file), "--average-share", "0.75",
                     "--example-lips"])
    assert code == 0
    loaded = load_model("beautygan", weights_dir=tmp_path / "weights")
    for averaged, mine in zip(loaded.generator.parameters(), generator.parameters()):
        assert torch.allclose(averaged, mine + 0.25, atol=1e-6)
    assert paints_lips_by_example(loaded) and not paints_lips_by_example(generator)
    card = (tmp_path / "weights" / "beautygan.md").read_text()
    assert "- averaged: 0.75 of this run's weights" in card and "- lips: the example-based transfer's" in card
    assert cli_main(["export", str(run), "--name", "beautygan", "--weights-dir", str(tmp_path / "bad"),
                     "--average-with", str(other_file), "--average-share", "0"]) == 1
    assert "error: average_share is this run's share of the average, in (0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()  # nothing written
    wider = save_weights(create_model("beautygan", width=16, residual_blocks=1), "beautygan", tmp_path / "wider",
                         dtype=torch.float32, update_manifest=False)
    with pytest.raises(ValueError, match="not the same model"):
        export_generator(run, "beautygan", weights_dir=tmp_path / "bad", average_with=wider)
