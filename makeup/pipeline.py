"""The transfer pipeline: load -> detect -> align -> model -> paste back at full resolution.

    from makeup.pipeline import MakeupPipeline
    pipeline = MakeupPipeline(models=["beautygan"])           # loads MTCNN and the models once
    result = pipeline.transfer("me.jpg", "look.png", intensity=0.8)
    result.image        # the full-resolution photo wearing the makeup
    result.timings      # ms per stage: load, detect, align, model, paste, total

`prepare` analyses a photo once (its faces and aligned crops), so several models can run on the same pair
(`transfer_all`) without detecting twice. Models without trained weights are refused unless the pipeline is
built with `allow_untrained=True`; results then say `trained=False`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from makeup.face import (
    AlignedFace,
    Face,
    FaceDetector,
    align_face,
    check_face,
    default_device,
    paste_back,
    shared_detector,
)
from makeup.face.errors import FaceError, NoFaceError
from makeup.io import DEFAULT_MAX_PIXELS, ImageSource, load_image
from makeup.models import get_card, list_models
from makeup.models.example_lips import paints_lips_by_example, with_example_lips
from makeup.models.reference_input import warps_reference
from makeup.models.tensors import image_to_tensor, tensor_to_image
from makeup.partial import check_regions, keep_regions, region_weight
from makeup.synth.correspondence import warp_to
from makeup.weights import WeightsError, WeightsMissingError, has_weights, load_model

log = logging.getLogger(__name__)


@dataclass
class PreparedImage:
    """A photo analysed once: its full-resolution pixels, the faces to use (largest first) and their crops."""

    image: np.ndarray
    role: str
    faces: list[Face]
    aligned: list[AlignedFace]
    timings: dict[str, float] = field(default_factory=dict)
    _landmarks: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def face(self) -> Face:
        return self.faces[0]

    @property
    def crop(self) -> np.ndarray:
        return self.aligned[0].crop

    def crop_landmarks(self, index: int = 0) -> np.ndarray:
        """The 478 FaceMesh landmarks of aligned crop `index` (crop pixels), found once (needs mediapipe).

        Raises FaceError naming this image when FaceMesh finds no face in the crop."""
        if index not in self._landmarks:
            from makeup.regions import RegionError, detect_landmarks

            try:
                self._landmarks[index] = detect_landmarks(self.aligned[index].crop)
            except RegionError as error:
                raise FaceError(f"The face regions of the {self.role} image could not be found: {error}",
                                self.role) from error
        return self._landmarks[index]


@dataclass
class TransferResult:
    """What one transfer produced, with everything needed to show, compare or debug it.

    image: the full-resolution source photo wearing the makeup. source_crops / outputs: per processed source
    face, the aligned crop and the raw model output (before `intensity`). reference_crop and demakeup: the
    aligned reference and the model's makeup-removed version of it (the version warped onto the first source
    face for a model that takes its references so: `makeup.models.reference_input`). timings: milliseconds per
    stage.
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


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


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
    that are intact.
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

    def prepare(
        self, image: ImageSource | PreparedImage, role: str = "source", all_faces: bool = False
    ) -> PreparedImage:
        """Load `image`, find its face (every acceptable face with all_faces) and cut the aligned crops.

        Raises the typed errors of makeup.io and makeup.face, naming `role`.
        """
        if isinstance(image, PreparedImage):
            return image
        start = time.perf_counter()
        pixels = load_image(image, role=role, max_pixels=self.max_pixels)
        timings = {"load": _ms(start)}
        start = time.perf_counter()
        if all_faces:
            faces = self.detector.detect(pixels)
        else:  # a cheaper search that stops at the large faces when there are any
            largest = self.detector.largest_face(pixels)
            faces = [largest] if largest else []
        timings["detect"] = _ms(start)
        if not faces:
            raise NoFaceError(role)
        check_face(faces[0], role=role, min_size=self.min_face_size, min_score=self.min_confidence)
        faces = [face for face in faces if _acceptable(face, self.min_face_size, self.min_confidence)]
        start = time.perf_counter()
        aligned = [align_face(pixels, face.landmarks, size=self.crop_size) for face in faces]
        timings["align"] = _ms(start)
        return PreparedImage(image=pixels, role=role, faces=faces, aligned=aligned, timings=timings)

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
        regions = check_regions(regions)
        owns_source = not isinstance(source, PreparedImage)
        source = self.prepare(source, "source", all_faces=all_faces)
        reference = self.prepare(reference, "reference")
        return self._transfer_prepared(source, reference, name, intensity, owns_source, regions)

    def transfer_all(
        self,
        source: ImageSource | PreparedImage,
        reference: ImageSource | PreparedImage,
        models: Iterable[str] | None = None,
        intensity: float = 1.0,
        all_faces: bool = False,
        regions: Iterable[str] | None = None,
    ) -> dict[str, TransferResult]:
        """One result per model (default: every loaded model) on the same aligned pair, detected once."""
        names = list(models) if models is not None else self.model_names
        if not names:
            raise ValueError("no models to compare: pass models=[...] or build the pipeline with models")
        regions = check_regions(regions)
        source = self.prepare(source, "source", all_faces=all_faces)
        reference = self.prepare(reference, "reference")
        return {name: self._transfer_prepared(source, reference, name, intensity, False, regions) for name in names}

    def _resolve_model_name(self, model: str | None) -> str:
        if model is not None:
            return model
        if not self._models:
            raise UntrainedModelError(
                "no model is loaded and none has trained weights: name one (model='beautygan') and build the "
                "pipeline with allow_untrained=True to run untrained models, or add trained weights"
            )
        return next(iter(self._models))

    def _transfer_prepared(
        self,
        source: PreparedImage,
        reference: PreparedImage,
        name: str,
        intensity: float,
        paste_in_place: bool,
        regions: tuple[str, ...] | None = None,
    ) -> TransferResult:
        if not 0.0 <= intensity <= 1.0:
            raise ValueError(f"intensity must be between 0 (no makeup) and 1 (full transfer), got {intensity}")
        network = self.model(name)
        timings = {
            stage: source.timings.get(stage, 0.0) + reference.timings.get(stage, 0.0)
            for stage in ("load", "detect", "align")
        }
        start = time.perf_counter()
        outputs, demakeup = self._run_model(name, network, source, reference)
        timings["model"] = _ms(start)
        start = time.perf_counter()
        made_up = [blend(aligned.crop, output, intensity) for aligned, output in zip(source.aligned, outputs)]
        if regions is not None:
            made_up = [
                keep_regions(aligned.crop, crop, region_weight(source.crop_landmarks(i), crop.shape[:2], regions))
                for i, (aligned, crop) in enumerate(zip(source.aligned, made_up))
            ]
        # The photo is ours to change when transfer() loaded it; a prepared image may serve further transfers.
        image = source.image if paste_in_place else source.image.copy()
        for aligned, crop in zip(source.aligned, made_up):
            paste_back(image, aligned, crop, inplace=True)
        timings["paste"] = _ms(start)
        timings["total"] = sum(timings.values())
        return TransferResult(
            image=image,
            model=name,
            trained=self.is_trained(name),
            device=str(self.device),
            intensity=intensity,
            source_faces=list(source.faces),
            reference_face=reference.face,
            source_crops=[a.crop for a in source.aligned],
            reference_crop=reference.crop,
            outputs=outputs,
            made_up_crops=made_up,
            demakeup=demakeup,
            timings=timings,
            regions=regions,
        )

    @torch.inference_mode()
    def _run_model(
        self, name: str, network: torch.nn.Module, source: PreparedImage, reference: PreparedImage
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Raw outputs for each source crop (one batch) and the reference's makeup-removed crop."""
        source_crops = [aligned.crop for aligned in source.aligned]
        sources = image_to_tensor(np.stack(source_crops), self.device)
        if warps_reference(network):
            references = image_to_tensor(np.stack(self._references_on_sources(source, reference)), self.device)
        else:
            references = image_to_tensor(reference.crop, self.device).expand(len(source_crops), -1, -1, -1)
        if get_card(name).kind == "classical":
            transferred, removed = network(sources, references, *self._regions(source, reference))
        else:
            transferred, removed = network(sources, references)
        outputs = tensor_to_image(transferred)
        outputs = [outputs] if outputs.ndim == 3 else list(outputs)
        if paints_lips_by_example(network):
            outputs = self._lips_by_example(outputs, source, reference)
        return outputs, tensor_to_image(removed[:1])

    def _lips_by_example(self, outputs: list[np.ndarray], source: PreparedImage,
                         reference: PreparedImage) -> list[np.ndarray]:
        """The example-based transfer's lips over each output, for weights that ask for them
        (`makeup.models.example_lips`). Where FaceMesh is not installed or finds no face in a crop, the
        network's own lips: a paler lipstick but no failure."""
        from makeup.regions import masks_from_landmarks

        found = _landmarks_of_crops(source, reference, "lips left to the network")
        if found is None:
            return outputs
        reference_landmarks, source_landmarks = found
        reference_masks = masks_from_landmarks(reference_landmarks, reference.crop.shape[:2])
        return [
            with_example_lips(output, aligned.crop, reference.crop,
                              masks_from_landmarks(points, aligned.crop.shape[:2]), reference_masks, points,
                              reference_landmarks)
            for output, aligned, points in zip(outputs, source.aligned, source_landmarks)
        ]

    def _references_on_sources(self, source: PreparedImage, reference: PreparedImage) -> list[np.ndarray]:
        """The reference crop warped onto each source crop, for generators trained that way
        (`makeup.models.reference_input`). Where FaceMesh is not installed or finds no face in a crop, the
        aligned crop itself: the similarity alignment the model also knows, a weaker transfer but no failure."""
        found = _landmarks_of_crops(source, reference, "reference not warped onto the source, using the aligned crop")
        if found is None:
            return [reference.crop] * len(source.aligned)
        reference_landmarks, source_landmarks = found
        return [warp_to(reference.crop, reference_landmarks, points) for points in source_landmarks]

    def _regions(self, source: PreparedImage, reference: PreparedImage) -> tuple[torch.Tensor, ...]:
        """(source masks, reference masks, source landmarks, reference landmarks) of the crops, for the classical
        methods: masks in HISTOGRAM_REGIONS order, Nx478x2 FaceMesh landmarks in crop pixels."""
        from makeup.regions import HISTOGRAM_REGIONS, masks_from_landmarks

        def masks(landmarks: np.ndarray, crop: np.ndarray) -> np.ndarray:
            regions = masks_from_landmarks(landmarks, crop.shape[:2])
            return np.stack([regions[region] for region in HISTOGRAM_REGIONS]).astype(np.float32)

        source_landmarks = [source.crop_landmarks(i) for i in range(len(source.aligned))]
        reference_landmarks = reference.crop_landmarks()
        count = len(source_landmarks)

        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(self.device)

        return (
            tensor(np.stack([masks(points, a.crop) for points, a in zip(source_landmarks, source.aligned)])),
            tensor(masks(reference_landmarks, reference.crop)).expand(count, -1, -1, -1),
            tensor(np.stack(source_landmarks)),
            tensor(reference_landmarks).expand(count, -1, -1),
        )


def _landmarks_of_crops(source: PreparedImage, reference: PreparedImage,
                        fallback: str) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """(reference crop landmarks, landmarks of each source crop), or None with a warning naming `fallback` where
    FaceMesh is not installed or finds no face in a crop."""
    try:
        return reference.crop_landmarks(), [source.crop_landmarks(i) for i in range(len(source.aligned))]
    except (ImportError, FaceError) as error:
        log.warning("%s (%s)", fallback, error)
        return None


def blend(source: np.ndarray, output: np.ndarray, intensity: float) -> np.ndarray:
    """`source` moved toward `output` by `intensity` (0: source, 1: output), as uint8."""
    if intensity >= 1.0:
        return output
    if intensity <= 0.0:
        return source
    mixed = source.astype(np.float32) + (output.astype(np.float32) - source) * intensity
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _acceptable(face: Face, min_size: int, min_score: float) -> bool:
    return face.size >= min_size and face.score >= min_score
