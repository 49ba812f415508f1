"""`makeup models` and `makeup bench` run for real and say what they measured."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from makeup.cli import main
from makeup.models import get_card, list_models
from makeup.weights import UNTRAINED_STATUS, has_weights


def test_models_lists_every_card_with_its_weights_status(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in list_models():
        assert f"| {name} |" in out
    assert "| beautygan | generator | 9.237 | 54.01 |" in out
    if not has_weights("beautygan"):
        assert UNTRAINED_STATUS in out


def test_models_shows_one_card_and_refuses_unknown_names(capsys):
    assert main(["models", "ddb-student"]) == 0
    out = capsys.readouterr().out
    assert get_card("ddb-student").paper in out and "3140896" in out
    assert main(["models", "--kind", "discriminator"]) == 0
    assert "patchgan" in capsys.readouterr().out
    assert main(["models", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_prints_a_table_and_writes_json(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--device", "cpu", "--size", "64", "--repeats", "2", "--warmup", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "| model | kind | params (M) | GMACs | GFLOPs | ms |" in out
    record = json.loads((tmp_path / "bench-results" / "models-cpu.json").read_text())
    assert record["size"] == 64 and record["repeats"] == 2 and record["threads"] == 1
    rows = {row["model"]: row for row in record["rows"]}
    assert set(rows) == set(list_models())
    teacher = rows["beautygan"]
    assert teacher["macs_ratio"] == pytest.approx(1.0) and teacher["speedup"] == pytest.approx(1.0)
    # at 64x64 every count is 1/16 of the 256x256 card figure
    assert teacher["gmacs"] == pytest.approx(get_card("beautygan").gmacs / 16, rel=1e-3)
    assert teacher["gflops"] == pytest.approx(2 * teacher["gmacs"])
    assert rows["slim-s"]["macs_ratio"] > 20
    assert rows["patchgan"]["speedup"] is None
    assert all(row["median_ms"] > 0 for row in rows.values())


def test_bench_selection_and_bad_arguments(tmp_path, capsys):
    path = tmp_path / "out.json"
    assert main(["bench", "--device", "cpu", "--size", "32", "--repeats", "1", "--warmup", "0",
                 "--models", "slim-s", "--json", str(path)]) == 0
    assert [row["model"] for row in json.loads(path.read_text())["rows"]] == ["beautygan", "slim-s"]
    assert main(["bench", "--size", "30"]) == 2
    assert main(["bench", "--models", "nope"]) == 2
    assert "unknown model" in capsys.readouterr().out


def test_console_script_lists_the_subcommands():
    result = subprocess.run([sys.executable, "-m", "makeup", "--help"], capture_output=True, text=True, check=True)
    assert "models" in result.stdout and "bench" in result.stdout
