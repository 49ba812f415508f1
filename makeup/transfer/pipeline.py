"""`MakeupPipeline`: the transfer from photo to photo, one stage per module of `makeup.transfer`.

    from makeup.transfer import MakeupPipeline
    pipeline = MakeupPipeline(models=["beautygan"])           # loads MTCNN and the models once
    result = pipeline.transfer("me.jpg", "look.png", intensity=0.8)
    result.image        # the full-resolution photo wearing the makeup
    result.timings      # ms per stage (STAGES) and total

`prepare` analyses a photo once (its faces and aligned crops), so several models can run on the same pair
(`transfer_all`) without detecting twice; a reference photo seen recently is served from `references` (by
content). Models without trained weights are refused unless the pipeline is built with `allow_untrained=True`;
results then say `trained=False`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from makeup.face import Face, FaceDetector, default_device, shared_detector
from makeup.io import DEFAULT_MAX_PIXELS, ImageSource
from makeup.models import get_card, list_models
from makeup.partial import check_regions
from makeup.transfer.finish import finish
from makeup.transfer.images import PreparedImage, ReferenceCache, content_key, elapsed_ms, prepare_image
from makeup.transfer.model import model_needs, run_model
from makeup.transfer.pair import PairNeeds, PreparedPair, prepare_pair
from makeup.transfer.paste import paste
from makeup.weights import WeightsError, WeightsMissingError, has_weights, load_model

log = logging.getLogger(__name__)

# The stages in the order the data flows; load, detect, align and pair are shared by every model of a comparison.
STAGES = ("load", "detect", "align", "pair", "model", "finish", "paste")
SHARED_STAGES = STAGES[:4]


@dataclass
class TransferResult:
    """What one transfer produced, with everything needed to show, compare or debug it.

    image: the full-resolution source photo wearing the makeup. source_crops / outputs: per processed source
    face, the aligned crop and the model's output (with the example lips where its weights ask for them,
    before `intensity`). reference_crop and demakeup: the aligned reference and the model's makeup-removed
    version of it (the version warped onto the first source face for a model that takes its references so:
    `makeup.models.reference_input`). timings: milliseconds per stage (`STAGES`) and their total; the shared
    stages (`SHARED_STAGES`) ran once for every model of a comparison and are the same in each of its results.
    """

    image: np.ndarray
    model: str
    trained: bool
    device: str
    intensity: float
    source_faces: list[Face]
    reference_face: Face
    source_crops: list[np.ndarray]
    reference_crop: np.ndarray
    outputs: list[np.ndarray]
    made_up_crops: list[np.ndarray]
    demakeup: np.ndarray
    timings: dict[str, float]
    regions: tuple[str, ...] | None = None

    @property
    def source_face(self) -> Face:
        return self.source_faces[0]

    @property
    def source_crop(self) -> np.ndarray:
        return self.source_crops[0]

    @property
    def output(self) -> np.ndarray:
        return self.outputs[0]

    @property
    def made_up_crop(self) -> np.ndarray:
        return self.made_up_crops[0]

    @property
    def boxes(self) -> dict[str, list[np.ndarray]]:
        return {"source": [face.box for face in self.source_faces], "reference": [self.reference_face.box]}

    @property
    def landmarks(self) -> dict[str, list[np.ndarray]]:
        return {"source": [face.landmarks for face in self.source_faces], "reference": [self.reference_face.landmarks]}


class UntrainedModelError(WeightsMissingError):
    """A model without trained weights was asked for while the pipeline does not allow untrained ones."""


class MakeupPipeline:
    """Load the face detector and models once, then transfer makeup between photos.

    models: registry names to load now (default: every generator with trained weights; others load on first
    use). device: "cuda" / "cpu" / None (CUDA when available). allow_untrained: build models that have no
    trained weights with random ones (for tests and demos of the machinery; results say `trained=False`).
    crop_size: the aligned crop the models see. min_face_size (pixels, the face box's shorter side) and
    min_confidence: faces below them raise FaceTooSmallError / LowConfidenceError. max_pixels: larger photos
    are refused before decoding. skip_broken: a model named in `models` (or found in the manifest) whose
    weights cannot be loaded (truncated, damaged, another architecture) is left out and its reason kept in
    `broken` (name: the error), instead of failing the whole pipeline: a server then still offers the models
    that are intact. cached_references: how many prepared reference photos to keep (0: none).
    """

    def __init__(
        self,
        models: Sequence[str] | str | None = None,
        device: torch.device | str | None = None,
        allow_untrained: bool = False,
        weights_dir: str | Path | None = None,
        crop_size: int = 256,
        min_face_size: int = 64,
        min_confidence: float = 0.9,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        detector: FaceDetector | None = None,
        skip_broken: bool = False,
        cached_references: int = 4,
    ) -> None:
        if crop_size % 4:
            raise ValueError(f"crop_size must be divisible by 4 (the generators downsample twice), got {crop_size}")
        self.device = torch.device(device) if device is not None else default_device()
        self.allow_untrained = allow_untrained
        self.weights_dir = weights_dir
        self.crop_size = crop_size
        self.min_face_size = min_face_size
        self.min_confidence = min_confidence
        self.max_pixels = max_pixels
        self.detector = detector or shared_detector(self.device)
        self.references = ReferenceCache(cached_references)
        self._models: dict[str, torch.nn.Module] = {}
        if isinstance(models, str):
            models = [models]
        if models is None:
            models = [name for name in list_models("generator") if has_weights(name, weights_dir)]
        self.broken: dict[str, WeightsError] = {}
        for name in models:
            try:
                self.model(name)
            except WeightsError as error:
                if not skip_broken:
                    raise
                log.warning("left out %s: %s", name, error)
                self.broken[name] = error

    @property
    def model_names(self) -> list[str]:
        """The models loaded so far, in load order; the first is the default for `transfer`."""
        return list(self._models)

    def model(self, name: str) -> torch.nn.Module:
        """The loaded model `name`, loading it on first use (UntrainedModelError if it has no trained weights)."""
        if name not in self._models:
            card = get_card(name)
            if card.kind == "discriminator":
                raise ValueError(f"{name!r} is a discriminator, not a makeup-transfer model")
            if card.kind != "classical" and not self.allow_untrained and not has_weights(name, self.weights_dir):
                raise UntrainedModelError(
                    f"{name!r} has no trained weights, so its output would be noise. Train and export it "
                    "(README, 'Training'), pick a model with weights, or build the pipeline with "
                    "allow_untrained=True to run it with random weights anyway."
                )
            self._models[name] = load_model(
                name, device=self.device, weights_dir=self.weights_dir, allow_random=self.allow_untrained
            )
        return self._models[name]

    def is_trained(self, name: str) -> bool:
        """Whether `name` runs with trained weights (classical methods need none and count as trained)."""
        model = self.model(name)
        return get_card(name).kind == "classical" or bool(getattr(model, "has_trained_weights", False))

    def needs(self, names: Iterable[str], regions: tuple[str, ...] | None = None) -> PairNeeds:
        """What the pair stage must compute for these models (and partial makeup of `regions`)."""
        needs = PairNeeds(landmarks=regions is not None)
        for name in names:
            needs = needs | model_needs(self.model(name), get_card(name).kind == "classical")
        return needs

    def prepare(
        self, image: ImageSource | PreparedImage, role: str = "source", all_faces: bool = False
    ) -> PreparedImage:
        """Load `image`, find its face (every acceptable face with all_faces) and cut the aligned crops.

        A reference is looked up by content first (`references`): a hit costs reading the file, and its
        timings say 0. Raises the typed errors of makeup.io and makeup.face, naming `role`.
        """
        if isinstance(image, PreparedImage):
            return image
        key = None
        if role == "reference":
            start = time.perf_counter()
            key = content_key(image, (self.crop_size, self.max_pixels, self.min_face_size, self.min_confidence,
                                      all_faces))
            cached = self.references.get(key)
            if cached is not None:
                return replace(cached, timings={"load": elapsed_ms(start), "detect": 0.0, "align": 0.0})
        prepared = prepare_image(image, self.detector, role, self.crop_size, self.max_pixels, self.min_face_size,
                                 self.min_confidence, all_faces)
        self.references.put(key, prepared)
        return prepared

    def prepare_pair(self, source: PreparedImage, reference: PreparedImage, names: Iterable[str],
                     regions: tuple[str, ...] | None = None) -> PreparedPair:
        """The pair stage for models `names`: landmarks, masks, warped references and example lips, once."""
        return prepare_pair(source, reference, self.needs(names, regions))

    def transfer(
        self,
        source: ImageSource | PreparedImage,
        reference: ImageSource | PreparedImage,
        model: str | None = None,
        intensity: float = 1.0,
        all_faces: bool = False,
        regions: Iterable[str] | None = None,
    ) -> TransferResult:
        """`source` wearing `reference`'s makeup, at the source's full resolution.

        Images are paths, bytes, file objects, PIL images, arrays or `prepare` results. intensity: 0 returns the
        source, 1 the full transfer. all_faces: make up every face in the source, not only the largest (a
        prepared source keeps the faces it was prepared with). regions: keep the change only on these parts of
        the face, any of "lips", "eyes", "skin" (`makeup.partial`; needs mediapipe); None: the whole look.
        """
        name = self._resolve_model_name(model)
        owns_source = not isinstance(source, PreparedImage)
        results = self.transfer_all(source, reference, [name], intensity, all_faces, regions,
                                    paste_in_place=owns_source)
        return results[name]

    def transfer_all(
        self,
        source: ImageSource | PreparedImage,
        reference: ImageSource | PreparedImage,
        models: Iterable[str] | None = None,
        intensity: float = 1.0,
        all_faces: bool = False,
        regions: Iterable[str] | None = None,
        paste_in_place: bool = False,
    ) -> dict[str, TransferResult]:
        """One result per model (default: every loaded model) on the same pair, detected and paired once."""
        # 0. check the request before any work
        names = list(models) if models is not None else self.model_names
        if not names:
            raise ValueError("no models to compare: pass models=[...] or build the pipeline with models")
        check_intensity(intensity)
        regions = check_regions(regions)
        for name in names:
            self.model(name)
        # 1. load, detect and align both photos
        source = self.prepare(source, "source", all_faces=all_faces)
        reference = self.prepare(reference, "reference")
        # 2. the pair: landmarks, masks, the warped reference and the example lips, for every model at once
        pair = self.prepare_pair(source, reference, names, regions)
        # 3.-5. each model, its finish and its paste
        return {name: self._transfer_pair(pair, name, intensity, regions, pair.shared_timings,
                                          paste_in_place and len(names) == 1)
                for name in names}

    def transfer_pair(self, pair: PreparedPair, model: str, intensity: float = 1.0,
                      regions: Iterable[str] | None = None) -> TransferResult:
        """One model on a pair prepared earlier (`prepare_pair` with this model among its names), as the app
        does to run models one by one under a time limit; the shared stages count 0 here."""
        check_intensity(intensity)
        return self._transfer_pair(pair, model, intensity, check_regions(regions),
                                   dict.fromkeys(SHARED_STAGES, 0.0), False)

    def _transfer_pair(self, pair: PreparedPair, name: str, intensity: float, regions: tuple[str, ...] | None,
                       timings: dict[str, float], paste_in_place: bool) -> TransferResult:
        network = self.model(name)
        classical = get_card(name).kind == "classical"
        needs = model_needs(network, classical)
        # 3. the model
        start = time.perf_counter()
        outputs, demakeup = run_model(network, classical, pair, self.device)
        timings["model"] = elapsed_ms(start)
        # 4. finish: the example lips, the intensity, the chosen face parts
        start = time.perf_counter()
        outputs, made_up = finish(outputs, pair, needs.example_lips, intensity, regions)
        timings["finish"] = elapsed_ms(start)
        # 5. paste back into the full-resolution photo
        start = time.perf_counter()
        image = paste(pair.source, made_up, in_place=paste_in_place)
        timings["paste"] = elapsed_ms(start)
        timings["total"] = sum(timings.values())
        return TransferResult(
            image=image,
            model=name,
            trained=self.is_trained(name),
            device=str(self.device),
            intensity=intensity,
            source_faces=list(pair.source.faces),
            reference_face=pair.reference.face,
            source_crops=[aligned.crop for aligned in pair.source.aligned],
            reference_crop=pair.reference.crop,
            outputs=outputs,
            made_up_crops=made_up,
            demakeup=demakeup,
            timings=timings,
            regions=regions,
        )

    def _resolve_model_name(self, model: str | None) -> str:
        if model is not None:
            return model
        if not self._models:
            raise UntrainedModelError(
                "no model is loaded and none has trained weights: name one (model='beautygan') and build the "
                "pipeline with allow_untrained=True to run untrained models, or add trained weights"
            )
        return next(iter(self._models))


def check_intensity(intensity: float) -> None:
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be between 0 (no makeup) and 1 (full transfer), got {intensity}")
