"""The trainer: config, a few-step run that learns, exact resume after kill -9, two-process DDP, logs and plots.

Runs use a tiny training set in the batch format (`TinyFaces`: two public-domain portraits, hand-placed regions)
and small generators at 64 px, so each run takes seconds on a CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from makeup.losses import paired_l1_loss
from makeup.models import create_model
from makeup.train import ConfigError, TrainConfig, load_config, train
from makeup.train import checkpoint
from makeup.train.log import LOG_FILE, read_log

torch.set_num_threads(1)
TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


SIZE = 64
# (top, bottom, left, right) as fractions of a face crop: lips, skin, eye shadow left and right
REGION_BOXES = ((0.70, 0.80, 0.38, 0.62), (0.25, 0.95, 0.22, 0.78), (0.36, 0.44, 0.28, 0.44), (0.36, 0.44, 0.56, 0.72))
TINTS = ((0.9, -0.6, -0.4), (0.3, -0.5, 0.6))


def _portraits(size: int) -> list[np.ndarray]:
    import cv2
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    astronaut = data.astronaut()[30:250, 120:340]  # the face, roughly square
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = np.asarray(Image.open(handle).convert("RGB"))[40:360, 100:420]
    faces = (astronaut, hopper)
    return [cv2.resize(np.ascontiguousarray(face), (size, size), interpolation=cv2.INTER_AREA) for face in faces]


def _masks(size: int) -> torch.Tensor:
    masks = torch.zeros(4, size, size)
    for region, (top, bottom, left, right) in enumerate(REGION_BOXES):
        masks[region, int(top * size) : int(bottom * size), int(left * size) : int(right * size)] = 1
    return masks


def _paint(image: torch.Tensor, masks: torch.Tensor, tint: tuple[float, float, float]) -> torch.Tensor:
    colour = torch.tensor(tint).view(3, 1, 1)
    region = (masks[0] + masks[2] + masks[3]).clamp(max=1)
    return image * (1 - 0.5 * region) + colour * 0.5 * region


class TinyFaces:
    """`count` samples cycling over (source, reference, tint, kind); deterministic per index."""

    def __init__(self, count: int = 8, size: int = SIZE) -> None:
        faces = [torch.from_numpy(face).permute(2, 0, 1).float() / 127.5 - 1 for face in _portraits(size)]
        self.faces, self.masks, self.count = faces, _masks(size), count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        source, reference = self.faces[index % 2], self.faces[(index + 1) % 2]
        tint = TINTS[(index // 2) % 2]
        synthetic = index % 4 < 2
        return {
            "source": source,
            "reference": _paint(reference, self.masks, tint),
            "target": _paint(source, self.masks, tint) if synthetic else torch.zeros_like(source),
            "has_target": torch.tensor(synthetic),
            "source_masks": self.masks,
            "reference_masks": self.masks,
            "kind": "synthetic" if synthetic else "real",
        }


def tiny_config(out_dir: Path, **changes) -> TrainConfig:
    """A small generator and discriminators at 64 px, no data workers, a random perceptual backbone."""
    values = dict(
        out_dir=str(out_dir), image_size=SIZE, steps=6, batch_size=1, num_workers=0, augment=False,
        perceptual_backbone="tiny-random", generator_options={"width": 8, "residual_blocks": 1},
        discriminator_options={"width": 8}, log_every=1, sample_every=0, checkpoint_every=3, progress=False,
    )
    values.update(changes)
    return TrainConfig(**values)


def model_tensors(folder: Path) -> dict[str, torch.Tensor]:
    found = checkpoint.find_checkpoint(folder)
    assert found is not None, f"no checkpoint in {folder}"
    by_role = checkpoint.load_model_tensors(found)
    return {f"{role}.{key}": value for role, tensors in by_role.items() for key, value in tensors.items()}


def assert_same_weights(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    different = [key for key in first if not torch.equal(first[key], second[key])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def run_script(script: str, *args: str, launcher: list[str] | None = None, wait: bool = True):
    """Run a Python snippet (with the tests folder importable) in a fresh process."""
    path = Path(args[0]) / "script.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n" + textwrap.dedent(script))
    command = [*(launcher or [sys.executable]), str(path), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if not wait:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


# ---- config ----------------------------------------------------------------------------------------------------


def test_config_layers_defaults_file_and_overrides(tmp_path):
    assert TrainConfig().lr_generator == 2e-4 and TrainConfig().batch_size == 1 and TrainConfig().beta1 == 0.5
    toml = ('steps = 50\nimage_size = 128\ncache = "faces"\nsynthetic_look_weights = { everyday = 1, bold-eyes = 2 }\n'
            '[generator_options]\nwidth = 32\n')
    (tmp_path / "run.toml").write_text(toml)
    config = load_config(tmp_path / "run.toml", {"steps": "70", "histogram_weights": "[1, 0.2, 1, 1]"})
    assert (config.steps, config.image_size, config.cache) == (70, 128, "faces")
    assert config.generator_options == {"width": 32} and config.histogram_weights == (1.0, 0.2, 1.0, 1.0)
    assert config.synthetic_look_weights == {"everyday": 1, "bold-eyes": 2}
    config.save(tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == config
    with pytest.raises(ConfigError, match="unknown config key 'stpes'"):
        load_config(None, {"stpes": "1"})
    with pytest.raises(ConfigError, match="steps"):
        load_config(None, {"steps": "many"})
    with pytest.raises(ConfigError, match="true or false"):
        load_config(None, {"augment": "3"})
    with pytest.raises(ConfigError, match="unknown looks \\['gothic'\\]"):
        load_config(None, {"synthetic_look_weights": '{"gothic": 1}'})
    with pytest.raises(ConfigError, match="positive sum"):
        load_config(None, {"synthetic_look_weights": '{"everyday": 0}'})
    with pytest.raises(ConfigError, match="must be numbers"):
        load_config(None, {"synthetic_look_weights": '{"everyday": "lots"}'})


def test_learning_rate_warms_up_holds_then_decays_to_zero():
    from makeup.train.trainer import learning_rate_factor

    config = TrainConfig(steps=100, warmup_steps=4, decay_start=60)
    factors = [learning_rate_factor(step, config) for step in range(100)]
    assert factors[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert factors[5:60] == [1.0] * 55
    assert factors[80] == pytest.approx(0.5) and factors[99] == pytest.approx(0.025)
    assert learning_rate_factor(0, TrainConfig()) == 1.0  # BeautyGAN's recipe: no warm-up, no decay


def test_precision_auto_uses_bf16_only_where_the_hardware_runs_it():
    from makeup.train.trainer import cpu_has_amx, resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision(TrainConfig(precision="fp32"), cpu) is None
    assert resolve_precision(TrainConfig(precision="bf16"), cpu) is torch.bfloat16
    assert resolve_precision(TrainConfig(precision="auto"), torch.device("cuda")) is torch.bfloat16
    assert resolve_precision(TrainConfig(precision="auto"), cpu) is (torch.bfloat16 if cpu_has_amx() else None)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():  # the kernel's own word on AMX, independent of torch's probe
        flags = set(cpuinfo.read_text().split())
        assert cpu_has_amx() == ("amx_tile" in flags)


# ---- a short run -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """25 steps on one fixed synthetic sample, with logs, a sample grid and checkpoints."""
    out = tmp_path_factory.mktemp("short_run")
    config = tiny_config(out, steps=25, lr_generator=1e-3, sample_every=25, checkpoint_every=10)
    finished = train(config, dataset=TinyFaces(count=1))
    return config, finished


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(short_run):
    config, finished = short_run
    sample = TinyFaces(count=1)[0]
    source, reference, target = (sample[key][None] for key in ("source", "reference", "target"))
    torch.manual_seed(config.seed)  # the trainer builds the generator right after seeding: the same start
    initial = create_model(config.generator, **config.generator_options)
    with torch.no_grad():
        before = paired_l1_loss(initial(source, reference)[0], target, torch.tensor([True])).item()
        after = paired_l1_loss(finished.generator(source, reference)[0], target, torch.tensor([True])).item()
    assert finished.step == 25
    assert after < 0.7 * before, (before, after)


def test_the_run_leaves_a_log_samples_checkpoints_and_config(short_run, tmp_path):
    config, finished = short_run
    run_dir = Path(config.out_dir)
    records = read_log(run_dir / LOG_FILE)
    assert [record["step"] for record in records] == list(range(1, 26))
    names = ("adversarial", "cycle", "identity", "paired_l1", "perceptual", "generator", "disc_makeup", "disc_plain")
    for name in names:
        assert all(np.isfinite(record[f"loss/{name}"]) for record in records), name
    assert records[-1]["steps_per_s"] > 0
    assert (run_dir / "samples" / "step_00000025.png").is_file()
    folders = sorted(path.name for path in (run_dir / "checkpoints").glob("step_*"))
    assert folders == ["step_00000020", "step_00000025"]  # keep_checkpoints=2
    for folder in folders:
        assert load_config(run_dir / "checkpoints" / folder / "config.json") == config

    from makeup.train.plot import plot_log

    image = plot_log(run_dir, tmp_path / "curves.png")
    assert image.stat().st_size > 10_000


def test_without_an_adversarial_term_the_discriminators_are_left_alone(tmp_path, capsys):
    # with the progress bar on, as on a GPU: it shows the generator's loss and no discriminator's
    config = tiny_config(tmp_path / "run", steps=3, adversarial_weight=0.0, paired_distance="l2", checkpoint_every=3,
                         progress=True)
    torch.manual_seed(config.seed)
    create_model(config.generator, **config.generator_options)  # the trainer seeds, then builds G, then both Ds
    untouched = create_model(config.discriminator, **config.discriminator_options).state_dict()
    train(config, dataset=TinyFaces())
    tensors = model_tensors(tmp_path / "run")
    for key, value in untouched.items():
        assert torch.equal(tensors[f"disc_makeup.{key}"], value), key
    records = read_log(tmp_path / "run" / LOG_FILE)
    assert all("loss/paired_l2" in record and "loss/disc_makeup" not in record for record in records)
    bar = capsys.readouterr().err
    assert "G=" in bar and "D=" not in bar


def test_init_seed_changes_the_weights_and_order_but_not_the_split(tmp_path):
    from makeup.train.trainer import run_seed

    assert run_seed(TrainConfig(seed=3)) == 3 and run_seed(TrainConfig(seed=3, init_seed=7)) == 7
    runs = {}
    for name, init_seed in (("a", -1), ("b", -1), ("c", 1)):
        config = tiny_config(tmp_path / name, steps=1, adversarial_weight=0.0, checkpoint_every=1, init_seed=init_seed)
        train(config, dataset=TinyFaces())
        runs[name] = model_tensors(tmp_path / name)
    assert_same_weights(runs["a"], runs["b"])  # the same seeds give the same run
    assert any(not torch.equal(runs["a"][key], runs["c"][key]) for key in runs["a"])


def test_a_weights_only_pack_seeds_a_new_run(short_run, tmp_path):
    from makeup.train.pack import pack

    config, finished = short_run
    packed = pack(config.out_dir, tmp_path / "packed", shard_megabytes=0.1)
    assert len(list(packed.glob("models-*.safetensors"))) > 1
    assert not (packed / checkpoint.TRAINING_FILE).exists()
    assert_same_weights(model_tensors(packed), model_tensors(Path(config.out_dir)))
    with pytest.raises(checkpoint.CheckpointError, match="weights only"):
        checkpoint.load_training_state(packed)
    halved = pack(config.out_dir, tmp_path / "bf16", dtype="bf16")
    assert all(tensor.dtype == torch.bfloat16 for tensor in model_tensors(halved).values() if tensor.is_floating_point())
    config_seeded = tiny_config(tmp_path / "seeded", steps=1, checkpoint_every=0)
    seeded = train(config_seeded, dataset=TinyFaces(count=1), init_from=packed, stop_after=0)
    start = {f"generator.{k}": v for k, v in seeded.generator.state_dict().items()}
    assert_same_weights(start, {k: v for k, v in model_tensors(packed).items() if k.startswith("generator.")})


def test_a_shipped_weights_file_seeds_a_new_run_and_is_recorded(short_run, tmp_path):
    from makeup.weights import save_weights

    config, finished = short_run
    shipped = save_weights(finished.generator, "beautygan", tmp_path / "weights", dtype=torch.float32,
                           update_manifest=False, training={"steps": 6, "config": config.to_dict()})
    seeded = train(tiny_config(tmp_path / "seeded", steps=1, checkpoint_every=0), dataset=TinyFaces(count=1),
                   init_from=shipped, stop_after=0)
    expected = finished.generator.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in seeded.generator.state_dict().items())
    record = checkpoint.read_start(tmp_path / "seeded")
    assert record["checkpoint"] == str(shipped) and record["step"] == 6 and record["config"]["out_dir"] == config.out_dir
    other = save_weights(create_model("slim-s"), "slim-s", tmp_path / "other", dtype=torch.float32,
                         update_manifest=False)
    with pytest.raises(checkpoint.CheckpointError, match="does not fit"):
        train(tiny_config(tmp_path / "mismatch", steps=1), dataset=TinyFaces(count=1), init_from=other,
              stop_after=0)


def test_copy_gates_start_closed_on_weights_trained_without_them_and_then_learn(short_run, tmp_path):
    from makeup.weights import save_weights

    config, finished = short_run
    shipped = save_weights(finished.generator, "beautygan", tmp_path / "weights", dtype=torch.float32,
                           update_manifest=False)
    gated_options = {**config.generator_options, "copy_gate": True}
    seeded = train(tiny_config(tmp_path / "gated", steps=1, checkpoint_every=0, generator_options=gated_options),
                   dataset=TinyFaces(count=1), init_from=shipped, stop_after=0)
    source, reference = (torch.rand(1, 3, SIZE, SIZE) * 2 - 1 for _ in range(2))
    with torch.no_grad():
        before = finished.generator.eval()(source, reference)[0]
        after = seeded.generator.eval()(source, reference)[0]
    assert torch.equal(before, after)
    trained = train(tiny_config(tmp_path / "gated-trained", steps=2, checkpoint_every=0, lr_generator=1e-3,
                                generator_options=gated_options), dataset=TinyFaces(count=1), init_from=shipped)
    assert trained.generator.decoder.copy_gates["transferred"].weight.abs().sum() > 0


# ---- kill -9 and resume ----------------------------------------------------------------------------------------

KILLABLE_RUN = """
from test_train import TinyFaces, tiny_config
from makeup.train import train
out = sys.argv[1]
train(tiny_config(out, steps=int(sys.argv[2]), checkpoint_every=2), dataset=TinyFaces(), resume=True)
"""


def test_kill_9_then_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    steps = 14
    train(tiny_config(tmp_path / "straight", steps=steps, checkpoint_every=2), dataset=TinyFaces())

    killed = tmp_path / "killed"
    process = run_script(KILLABLE_RUN, str(killed), str(steps), wait=False)
    latest = killed / "checkpoints" / checkpoint.LATEST_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if latest.is_file() and json.loads(latest.read_text())["step"] >= 4:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    stopped_at = json.loads(latest.read_text())["step"]
    assert 4 <= stopped_at < steps, "the run finished before it could be killed"

    resumed = train(tiny_config(killed, steps=steps, checkpoint_every=2), dataset=TinyFaces(), resume=True)
    assert resumed.step == steps
    assert_same_weights(model_tensors(killed), model_tensors(tmp_path / "straight"))
    logged = [record["step"] for record in read_log(killed / LOG_FILE)]
    assert logged == list(range(1, steps + 1))  # no step twice, none missing


KILLED_WHILE_SAVING = """
import time
from pathlib import Path
import makeup.train.checkpoint as checkpoint
from test_train import TinyFaces, tiny_config
from makeup.train import train
out, marker = sys.argv[1], Path(sys.argv[3])
write = checkpoint._fsync_file

def stall_in_step_6(path):
    write(path)
    if ".step_00000006.tmp" in str(path):  # half of step 6 is on disk, not yet renamed into place
        marker.touch()
        time.sleep(300)

checkpoint._fsync_file = stall_in_step_6
train(tiny_config(out, steps=int(sys.argv[2]), checkpoint_every=2), dataset=TinyFaces(), resume=True)
"""


def test_kill_9_while_a_checkpoint_is_written_loses_only_the_steps_since_the_last_good_one(tmp_path):
    steps = 10
    train(tiny_config(tmp_path / "straight", steps=steps, checkpoint_every=2), dataset=TinyFaces())
    killed, marker = tmp_path / "killed", tmp_path / "saving"
    process = run_script(KILLED_WHILE_SAVING, str(killed), str(steps), str(marker), wait=False)
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert marker.exists(), process.stdout.read().decode()[-2000:]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (killed / "checkpoints" / ".step_00000006.tmp").is_dir()  # the half-written one is there...
    assert checkpoint.find_checkpoint(killed).name == "step_00000004"  # ...and never taken
    resumed = train(tiny_config(killed, steps=steps, checkpoint_every=2), dataset=TinyFaces(), resume=True)
    assert resumed.step == steps
    assert_same_weights(model_tensors(killed), model_tensors(tmp_path / "straight"))
    assert not list((killed / "checkpoints").glob(".*.tmp"))


def test_a_full_disk_while_saving_keeps_the_last_checkpoint_and_stops_clearly(tmp_path, monkeypatch):
    import errno

    save = checkpoint.save_model_files

    def disk_fills_at_step_4(models, folder, max_shard_bytes):
        if "step_00000004" in str(folder):
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(models, folder, max_shard_bytes)

    monkeypatch.setattr(checkpoint, "save_model_files", disk_fills_at_step_4)
    run = tmp_path / "run"
    with pytest.raises(checkpoint.CheckpointWriteError, match="No space left on device") as caught:
        train(tiny_config(run, steps=8, checkpoint_every=2), dataset=TinyFaces())
    message = str(caught.value)
    assert "step 4" in message and "step_00000002, is intact" in message and "--resume" in message
    assert checkpoint.find_checkpoint(run).name == "step_00000002"
    assert not list((run / "checkpoints").glob(".*.tmp"))  # nothing half-written left
    monkeypatch.setattr(checkpoint, "save_model_files", save)  # space is back: the run continues
    assert train(tiny_config(run, steps=8, checkpoint_every=2), dataset=TinyFaces(), resume=True).step == 8


def test_the_command_line_reports_a_failed_checkpoint_write_without_a_traceback(tmp_path, monkeypatch, capsys):
    import errno

    from makeup.train.command import main as train_main

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_model_files", no_space)
    monkeypatch.setattr("makeup.train.trainer.build_dataset", lambda config: TinyFaces())
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(f"""out_dir = "{tmp_path / 'run'}"
image_size = {SIZE}
steps = 4
batch_size = 1
num_workers = 0
augment = false
perceptual_backbone = "tiny-random"
generator_options = {{ width = 8, residual_blocks = 1 }}
discriminator_options = {{ width = 8 }}
sample_every = 0
checkpoint_every = 2
progress = false
""")
    code = train_main(["--config", str(recipe)])
    captured = capsys.readouterr()
    assert code == 1 and "No space left on device" in captured.err and "Traceback" not in captured.err


# ---- DDP -------------------------------------------------------------------------------------------------------

DDP_RUN = """
import os
from safetensors.torch import save_file
from test_train import TinyFaces, tiny_config
from makeup.train import train
out = sys.argv[1]
finished = train(tiny_config(out, steps=3, batch_size=2, checkpoint_every=3, device="cpu"), dataset=TinyFaces(count=8))
models = {"generator": finished.generator, **finished.discriminators}
tensors = {f"{role}.{key}": value.contiguous() for role, model in models.items()
           for key, value in model.state_dict().items()}
save_file(tensors, os.path.join(out, f"rank{os.environ['RANK']}.safetensors"))
"""


def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    from safetensors.torch import load_file

    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    run_script(DDP_RUN, str(tmp_path), launcher=launcher)
    rank0, rank1 = (load_file(str(tmp_path / f"rank{rank}.safetensors")) for rank in (0, 1))
    assert_same_weights(rank0, rank1)
    torch.manual_seed(0)
    initial = create_model("beautygan", width=8, residual_blocks=1).state_dict()
    assert any(not torch.equal(rank0[f"generator.{key}"], value) for key, value in initial.items())  # it trained
    assert [record["step"] for record in read_log(tmp_path / LOG_FILE)] == [1, 2, 3]  # rank 0 alone logs
    assert_same_weights(model_tensors(tmp_path), rank0)


# ---- from a prepared cache -------------------------------------------------------------------------------------


def _tiny_cache(folder: Path, size: int = SIZE) -> Path:
    """A prepared cache made with makeup.data's writer: the two portraits under 12 identities, 3 with makeup."""
    from makeup.data import FaceRecord, write_cache
    from makeup.data.cache import pack_masks
    from makeup.data.triplets import split_of
    from makeup.regions import HISTOGRAM_REGIONS, LANDMARK_COUNT, REGIONS

    identities = [f"person-{i}" for i in range(40) if split_of(f"person-{i}") == "train"][:12]
    faces = TinyFaces(size=size)
    images, masks, records = [], [], []
    for number, identity in enumerate(identities):
        makeup = number < 3
        image = faces[number]["reference" if makeup else "source"]  # "reference" carries a painted look
        images.append(((image.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy())
        region_masks = np.zeros((len(REGIONS), size, size), np.float32)
        for index, name in enumerate(HISTOGRAM_REGIONS):
            region_masks[REGIONS.index(name)] = faces.masks[index].numpy()
        region_masks[REGIONS.index("face")] = faces.masks[1].numpy()
        masks.append(pack_masks(region_masks))
        kind = "makeup" if makeup else "non-makeup"
        records.append(FaceRecord(id=f"face-{number}", image=f"face-{number}.png", kind=kind, identity=identity,
                                  masks_from="test"))
    landmarks = np.full((len(records), LANDMARK_COUNT, 2), np.nan, np.float32)
    return write_cache(folder, np.stack(images), np.stack(masks), landmarks, records)


def test_training_reads_a_prepared_cache_and_mixes_synthetic_and_real_pairs(tmp_path):
    cache = _tiny_cache(tmp_path / "cache")
    config = tiny_config(tmp_path / "run", cache=str(cache), steps=4, batch_size=4, synthetic_fraction=0.5,
                         samples_per_epoch=16, checkpoint_every=4)
    finished = train(config)
    assert finished.step == 4
    records = read_log(tmp_path / "run" / LOG_FILE)
    assert sum(record["loss/histogram"] > 0 for record in records) >= 1  # real pairs came through
    assert sum(record["loss/paired_l1"] > 0 for record in records) >= 1  # and synthetic triplets
    # a 128 px run from a 64 px cache resizes on the fly
    larger = tiny_config(tmp_path / "run128", cache=str(cache), image_size=128, steps=1, checkpoint_every=0)
    assert train(larger).step == 1


# ---- data-loading workers --------------------------------------------------------------------------------------


class RecordedPairs(torch.utils.data.Dataset):
    """A dataset of the training mix that appends, per item, the worker's pid, the key and a digest of the pair."""

    epoch_keys = True

    def __init__(self, dataset, path: Path, delay_s: float = 0.0) -> None:
        self.dataset, self.path, self.delay_s = dataset, path, delay_s

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        time.sleep(self.delay_s)
        item = self.dataset[key]
        pair = torch.cat([item["source"], item["reference"]]).numpy().tobytes()
        record = {"pid": os.getpid(), "epoch": key[0], "index": key[1], "pair": hashlib.sha1(pair).hexdigest()}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        return item


def _recorded_pairs(tmp_path: Path, length: int, delay_s: float = 0.0) -> RecordedPairs:
    from makeup.data import FaceCache, training_pairs
    from makeup.data.augment import FaceAugment

    pairs = training_pairs(FaceCache(_tiny_cache(tmp_path / "cache")), length=length, augment=FaceAugment.none())
    return RecordedPairs(pairs, tmp_path / "items.jsonl", delay_s)


def test_workers_start_once_and_draw_new_pairs_each_epoch(tmp_path):
    import cv2

    # Start OpenCV's thread pool in this (parent) process first: workers forked after that deadlock at their first
    # cv2 call, which is what hung GPU runs at 256 px.
    cv2.cvtColor(np.zeros((2048, 2048, 3), np.uint8), cv2.COLOR_RGB2LAB)
    dataset = _recorded_pairs(tmp_path, length=4)
    config = tiny_config(tmp_path / "run", steps=6, batch_size=2, num_workers=2, sample_every=1, checkpoint_every=0)
    assert train(config, dataset=dataset).step == 6  # 3 epochs of 2 steps
    assert len(list((tmp_path / "run" / "samples").glob("step_*.png"))) == 6

    records = read_log(tmp_path / "items.jsonl")
    pids = {record["pid"] for record in records}
    assert len(pids) == 2 and os.getpid() not in pids  # the same two workers served every epoch
    pairs = {}
    for record in records:
        pairs.setdefault(record["epoch"], {})[record["index"]] = record["pair"]
    assert {0, 1, 2} <= pairs.keys() and all(len(pairs[epoch]) == 4 for epoch in (0, 1, 2))
    assert pairs[0] != pairs[1] and pairs[1] != pairs[2] and pairs[0] != pairs[2]  # the epoch reached the workers


def test_a_stuck_worker_fails_the_run_instead_of_hanging_it(tmp_path, monkeypatch):
    from makeup.train import trainer

    monkeypatch.setattr(trainer, "WORKER_TIMEOUT_S", 0.5)
    dataset = _recorded_pairs(tmp_path, length=4, delay_s=3.0)
    config = tiny_config(tmp_path / "run", steps=2, batch_size=2, num_workers=1, checkpoint_every=0)
    with pytest.raises(trainer.DataLoadingStalled, match="num_workers=0"):
        train(config, dataset=dataset)


def test_the_configured_mix_of_looks_reaches_the_synthetic_triplets(tmp_path):
    from makeup.train.trainer import build_dataset

    cache = _tiny_cache(tmp_path / "cache")
    config = TrainConfig(cache=str(cache), synthetic_fraction=1.0, synthetic_look_weights={"lips-only": 1.0})
    dataset = build_dataset(config)
    assert all(style.shadow_opacity == 0 and style.lip_opacity > 0 for style in dataset.styles)


def test_the_command_line_reports_a_bad_config_without_a_traceback(tmp_path):
    (tmp_path / "run.toml").write_text("synthetic_look_weights = { gothic = 1 }\n")
    cases = {("--set", "stpes=1"): "error: unknown config key 'stpes'",
             ("--config", str(tmp_path / "run.toml")): "error: config synthetic_look_weights: unknown looks ['gothic']"}
    for args, message in cases.items():
        done = subprocess.run([sys.executable, "-m", "makeup", "train", "teacher", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.startswith(message), done.stderr


@pytest.mark.parametrize("recipe", sorted((REPO / "configs").glob("*.toml")), ids=lambda path: path.name)
def test_every_shipped_recipe_loads(recipe):
    config = load_config(recipe)
    assert config.steps > 0 and config.image_size % 4 == 0
