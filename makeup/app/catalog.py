"""What the app offers: every model with trained weights plus the classical methods, with their figures.

Read from the registry and `weights/manifest.json` each time the app is built, so new weights appear without
code changes. The manifest's `benchmarks` and `baselines` sections give the latency-against-quality chart.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from makeup.models import get_card, list_models
from makeup.models.working_size import gmacs_at_working_size
from makeup.weights import has_weights, read_manifest


def mediapipe_available() -> bool:
    """Whether FaceMesh can run here (the classical methods and partial makeup need it)."""
    return importlib.util.find_spec("mediapipe") is not None


@dataclass(frozen=True)
class ModelEntry:
    """One model as the app shows it. `gmacs` is at the size its weights run at (see `working_size`)."""

    name: str
    method: str
    kind: str
    params: int
    gmacs: float
    trained: bool

    @property
    def needs_mediapipe(self) -> bool:
        """The classical methods read FaceMesh landmarks or masks."""
        return self.kind == "classical"

    @property
    def gflops(self) -> float:
        return 2.0 * self.gmacs

    @property
    def figures(self) -> str:
        if self.kind == "classical":
            return "no network"
        return f"{self.params / 1e6:.2f} M params, {self.gmacs:.2f} GMACs"

    @property
    def label(self) -> str:
        label = f"{self.name}: {self.method} ({self.figures})"
        if not self.trained:
            label += " UNTRAINED: random weights"
        elif self.needs_mediapipe and not mediapipe_available():
            label += " (needs mediapipe, not installed)"
        return label


def model_entries(weights_dir: str | Path | None = None, include_untrained: bool = False,
                  exclude: Collection[str] = ()) -> list[ModelEntry]:
    """Trained networks first, then the classical methods, then (only when asked) networks without weights.
    `exclude`: models to leave out (weights that failed to load)."""
    manifest = read_manifest(weights_dir)["models"]
    trained, classical, untrained = [], [], []
    for name in list_models("generator") + list_models("classical"):
        if name in exclude:
            continue
        card = get_card(name)
        is_classical = card.kind == "classical"
        has = is_classical or has_weights(name, weights_dir)
        working_size = manifest.get(name, {}).get("working_size") if has else None
        entry = ModelEntry(
            name=name,
            method=card.method,
            kind=card.kind,
            params=card.params,
            gmacs=gmacs_at_working_size(card.gmacs, working_size),
            trained=has,
        )
        (classical if is_classical else trained if has else untrained).append(entry)
    return trained + classical + (untrained if include_untrained else [])


def default_selection(entries: list[ModelEntry]) -> list[str]:
    """What is ticked when the page opens: every trained network and, when FaceMesh runs here, the
    example-based method (the strongest baseline); a network without weights only when nothing else runs."""
    chosen = [entry.name for entry in entries if entry.trained and entry.kind != "classical"]
    if mediapipe_available():
        chosen += [entry.name for entry in entries if entry.name == "example"]
    if not chosen:
        chosen = [entries[0].name] if entries else []
    return chosen


# the student the Live and Video tabs start with: the fastest one that keeps up with the teacher's quality
LIVE_STUDENT = "slim-s"


def live_default(networks: list[ModelEntry]) -> str | None:
    """The model the Live and Video tabs start with: `LIVE_STUDENT` when it is offered, else the network with the
    fewest MACs (the fastest), else none."""
    names = [entry.name for entry in networks]
    if LIVE_STUDENT in names:
        return LIVE_STUDENT
    return min(networks, key=lambda entry: entry.gmacs).name if networks else None


@dataclass(frozen=True)
class ChartPoint:
    model: str
    latency_ms: float
    psnr: float
    gmacs: float
    shipped: bool


def chart_points(weights_dir: str | Path | None = None) -> list[ChartPoint]:
    """Latency against quality for every model the manifest has both figures for: CPU latency from its
    `benchmarks.cpu` section, synthetic test PSNR from each model's metrics (or its `baselines` row)."""
    manifest = read_manifest(weights_dir)
    latency = manifest.get("benchmarks", {}).get("cpu", {}).get("ms", {})
    rows = {name: (entry.get("metrics", {}), entry.get("gmacs", 0.0), True)
            for name, entry in manifest["models"].items()}
    for name, baseline in manifest.get("baselines", {}).items():
        rows.setdefault(name, (baseline.get("metrics", {}), baseline.get("gmacs", 0.0), False))
    points = []
    for name, (metrics, gmacs, shipped) in rows.items():
        psnr = metrics.get("synthetic", {}).get("psnr")
        if psnr is not None and name in latency:
            points.append(ChartPoint(name, float(latency[name]), float(psnr), float(gmacs), shipped))
    return sorted(points, key=lambda point: point.latency_ms)
