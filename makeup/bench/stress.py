"""Load test of the real app: `demo/app.py` in its own process on 127.0.0.1, driven by concurrent gradio_client
clients, good photos mixed with bad uploads. A command run on purpose (`makeup stress`), not a timed test.

Two phases on one server: a clean phase (good photos only) gives the baseline latency, then the mixed phase
(`bad_fraction` of the uploads broken: text renamed .png, truncated JPEG, a photo without a face, a
decompression bomb) shows whether bad uploads slow or break the good ones. Every good upload is a slightly
different photo, as real traffic is, so Gradio's cache sees new files. Reported: requests served, outcomes by
kind, median and 95th-percentile latency, the server's resident memory at the start, after the first 20
requests and at the end, the files in Gradio's cache, and whether the server survived.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

APP = Path(__file__).resolve().parents[1] / "demo" / "app.py"
# what a readable refusal of a bad photo says (the pipeline's typed errors name the photo)
READABLE = ("source image", "reference image", "No face was found")
QUEUE_FULL = "queue is full"
BAD_KINDS = ("text-as-png", "truncated-jpeg", "no-face", "decompression-bomb")


@dataclass
class StressConfig:
    clients: int = 8
    requests: int = 25  # per client, mixed phase
    baseline_requests: int = 5  # per client, clean phase
    bad_fraction: float = 0.25
    model: str | None = None  # default: the app's default (first trained network)
    seed: int = 0
    cache_lifetime_s: int = 60
    startup_timeout_s: float = 300.0
    request_timeout_s: float = 300.0


@dataclass
class Outcome:
    phase: str
    upload: str  # "good" or a BAD_KINDS entry
    result: str  # ok, readable-error, queue-full, wrong-result, or error:<type>
    seconds: float
    detail: str = ""


@dataclass
class StressReport:
    config: dict
    outcomes: list[Outcome] = field(default_factory=list)
    rss_mb: dict[str, float | None] = field(default_factory=dict)
    cache_files: dict[str, int] = field(default_factory=dict)
    server_alive: bool = True
    server_exit: int | None = None

    def summary(self) -> dict:
        def latency(phase: str, good: bool) -> dict:
            values = sorted(o.seconds for o in self.outcomes if o.phase == phase and (o.upload == "good") == good)
            if not values:
                return {}
            return {"count": len(values), "median_s": round(statistics.median(values), 3),
                    "p95_s": round(values[min(len(values) - 1, int(0.95 * len(values)))], 3)}

        by_result = Counter(f"{o.upload}: {o.result}" for o in self.outcomes)
        start, warm, end = (self.rss_mb.get(key) for key in ("start", "after_20", "end"))
        growth = round(100.0 * (end - warm) / warm, 1) if warm and end else None
        unexpected = [o for o in self.outcomes
                      if not (o.result == "queue-full" or (o.upload == "good" and o.result == "ok")
                              or (o.upload != "good" and o.result == "readable-error"))]
        return {
            "requests": len(self.outcomes),
            "served_ok": sum(o.result == "ok" for o in self.outcomes),
            "refused_readably": sum(o.result == "readable-error" for o in self.outcomes),
            "queue_full": sum(o.result == "queue-full" for o in self.outcomes),
            "unexpected": len(unexpected),
            "unexpected_examples": [asdict(o) for o in unexpected[:5]],
            "outcomes": dict(sorted(by_result.items())),
            "latency_good_clean": latency("clean", True),
            "latency_good_mixed": latency("mixed", True),
            "latency_bad_mixed": latency("mixed", False),
            "rss_mb": self.rss_mb,
            "rss_growth_after_warmup_percent": growth,
            "cache_files": self.cache_files,
            "server_alive": self.server_alive,
        }


def run_stress(config: StressConfig, workdir: Path | None = None) -> StressReport:
    """Start the app, drive it, stop it; the report says what happened."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="makeup-stress-"))
    photos = _photos(workdir / "photos", config)
    gradio_cache = workdir / "gradio-cache"
    port = free_port()
    environment = {**os.environ, "GRADIO_TEMP_DIR": str(gradio_cache), "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen(
        [sys.executable, str(APP), "--host", "127.0.0.1", "--port", str(port),
         "--cache-lifetime", str(config.cache_lifetime_s)],
        env=environment, stdout=open(workdir / "server.log", "w"), stderr=subprocess.STDOUT)
    report = StressReport(config=asdict(config))
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(url, server, config.startup_timeout_s)
        report.rss_mb["start"] = _rss_mb(server.pid)
        report.cache_files["start"] = _count_files(gradio_cache)
        driver = _Driver(url, photos, config, report, server.pid)
        driver.phase("clean", config.baseline_requests, bad_fraction=0.0)
        driver.phase("mixed", config.requests, bad_fraction=config.bad_fraction)
        report.rss_mb["end"] = _rss_mb(server.pid)
        report.cache_files["end"] = _count_files(gradio_cache)
        # after one lifetime and a sweep, the files of this run must be gone
        time.sleep(config.cache_lifetime_s + max(1, config.cache_lifetime_s // 2) + 2)
        report.cache_files["after_lifetime"] = _count_files(gradio_cache)
    finally:
        report.server_exit = server.poll()
        report.server_alive = report.server_exit is None
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return report


class _Driver:
    def __init__(self, url: str, photos: dict, config: StressConfig, report: StressReport, pid: int) -> None:
        self.url, self.photos, self.config, self.report, self.pid = url, photos, config, report, pid
        self.lock = threading.Lock()

    def phase(self, name: str, requests: int, bad_fraction: float) -> None:
        with ThreadPoolExecutor(self.config.clients) as pool:
            for future in [pool.submit(self._client, name, index, requests, bad_fraction)
                           for index in range(self.config.clients)]:
                future.result()

    def _client(self, phase: str, index: int, requests: int, bad_fraction: float) -> None:
        from gradio_client import Client

        client = Client(self.url, verbose=False)
        rng = np.random.default_rng([self.config.seed, index, phase == "mixed"])
        for number in range(requests):
            upload = "good"
            if rng.random() < bad_fraction:
                upload = BAD_KINDS[int(rng.integers(len(BAD_KINDS)))]
            source = self.photos["good"][int(rng.integers(len(self.photos["good"])))]
            if upload != "good":
                source = self.photos[upload]
            outcome = self._request(client, phase, upload, source)
            with self.lock:
                self.report.outcomes.append(outcome)
                if len(self.report.outcomes) == 20:
                    self.report.rss_mb["after_20"] = _rss_mb(self.pid)

    def _request(self, client, phase: str, upload: str, source: Path) -> Outcome:
        from gradio_client import handle_file

        options = {"model": self.config.model} if self.config.model else {}
        start = time.perf_counter()
        try:
            job = client.submit(handle_file(source), handle_file(self.photos["reference"]), api_name="/transfer",
                                **options)
            image_path, _ = job.result(timeout=self.config.request_timeout_s)  # a hung server cannot hang the run
            seconds = time.perf_counter() - start
            with Image.open(image_path) as result, Image.open(source) as photo:
                right = result.size == photo.size
            return Outcome(phase, upload, "ok" if right else "wrong-result", seconds)
        except Exception as error:  # classified, never raised: one failed request must not stop the run
            seconds, message = time.perf_counter() - start, str(error)
            if QUEUE_FULL in message.lower():
                result = "queue-full"
            elif upload != "good" and any(text in message for text in READABLE):
                result = "readable-error"
            else:
                result = f"error:{type(error).__name__}"
            return Outcome(phase, upload, result, seconds, message[:200])


def _photos(folder: Path, config: StressConfig) -> dict:
    """Good sources (slightly different crops of two public-domain portraits), one reference, bad uploads."""
    from makeup.app.examples import public_domain_portraits

    folder.mkdir(parents=True, exist_ok=True)
    faces = public_domain_portraits()
    if len(faces) < 2:
        raise RuntimeError("the stress test needs scikit-image and matplotlib (pip install -e '.[app]')")
    astronaut, hopper = faces["astronaut"], faces["grace-hopper"]
    rng = np.random.default_rng(config.seed)
    good = []
    for index in range(24):  # different files, as real uploads are, so the cache sees new ones
        margin = rng.integers(0, 40, size=4)
        crop = astronaut[margin[0]:astronaut.shape[0] - margin[1], margin[2]:astronaut.shape[1] - margin[3]]
        good.append(folder / f"good-{index:02d}.jpg")
        Image.fromarray(np.ascontiguousarray(crop)).save(good[-1], quality=90)
    reference = folder / "reference.jpg"
    Image.fromarray(hopper).save(reference, quality=90)
    text = folder / "text-as-png.png"
    text.write_text("this is not an image\n")
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(good[0].read_bytes()[:4000])
    blank = folder / "no-face.png"
    Image.new("RGB", (640, 480), (150, 160, 170)).save(blank)
    bomb = folder / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 megapixels in a few kilobytes
    return {"good": good, "reference": reference, "text-as-png": text, "truncated-jpeg": truncated,
            "no-face": blank, "decompression-bomb": bomb}


def wait_until_up(url: str, server: subprocess.Popen, timeout_s: float) -> None:
    """Return once the app at `url` answers; RuntimeError if `server` exits first or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with status {server.returncode} before it came up")
        try:
            with urllib.request.urlopen(url + "config", timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"the app did not come up within {timeout_s:.0f} s")


def _rss_mb(pid: int) -> float | None:
    """Resident memory of process `pid` in MiB (Linux /proc), None where it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _count_files(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def format_summary(summary: dict) -> str:
    """The summary as a markdown table."""
    rows = [("requests", summary["requests"]), ("served", summary["served_ok"]),
            ("bad uploads refused with a readable message", summary["refused_readably"]),
            ("refused: queue full", summary["queue_full"]), ("unexpected outcomes", summary["unexpected"])]
    for phase in ("latency_good_clean", "latency_good_mixed", "latency_bad_mixed"):
        figures = summary[phase]
        if figures:
            rows.append((f"{phase.replace('_', ' ')} (median / p95 s)", f"{figures['median_s']} / {figures['p95_s']}"))
    rss = summary["rss_mb"]
    rows.append(("server RSS MiB (start / after 20 / end)",
                 f"{rss.get('start')} / {rss.get('after_20')} / {rss.get('end')}"))
    rows.append(("RSS growth after warm-up", f"{summary['rss_growth_after_warmup_percent']}%"))
    files = summary["cache_files"]
    rows.append(("files in Gradio's cache (start / end / after lifetime)",
                 f"{files.get('start')} / {files.get('end')} / {files.get('after_lifetime')}"))
    rows.append(("server survived", summary["server_alive"]))
    return "\n".join(["| figure | value |", "| --- | ---: |", *(f"| {name} | {value} |" for name, value in rows)])


def write_report(report: StressReport, path: Path) -> dict:
    summary = report.summary()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"summary": summary, "config": report.config, "outcomes": [asdict(o) for o in report.outcomes]}
    temporary = path.with_suffix(path.suffix + ".partial")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    temporary.replace(path)
    return summary
