"""`makeup transfer`: put a reference photo's makeup on a source photo or video clip, or on every photo of a folder."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from makeup.transfer import MakeupPipeline, PreparedImage

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
# a single source with one of these suffixes is a clip: made up frame by frame, written as H.264 mp4 with its audio
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".gif", ".mkv", ".avi", ".m4v")


def _frames(text: str) -> int:
    """A count of frames for --detect-every and --model-every: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of frames, 1 or more, got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transfer",
        help="transfer makeup from a reference photo to a source photo (or folders of them)",
        description="Detect and align both faces, run the model and paste the result back into the source photo "
        "at full resolution. Single mode: SOURCE REFERENCE -o OUT_FILE. Folder mode: --sources DIR --references "
        "DIR_OR_FILE -o OUT_DIR writes one image per source and reference pair, named SOURCE__REFERENCE; files "
        "that cannot be used are reported and skipped, outputs that already exist are kept (an interrupted run "
        "continues where it stopped; --overwrite redoes them). Video mode: CLIP REFERENCE -o OUT.mp4 (a source "
        "ending in " + ", ".join(VIDEO_SUFFIXES) + ") makes up every frame, the face tracked between detections, "
        "and writes H.264 mp4 with the same frames, frame rate and upright size, the audio copied (a GIF is a clip when "
        "the output is .mp4, a photo otherwise). Outputs are "
        "written atomically.",
    )
    parser.add_argument("source", nargs="?", help="the photo to put makeup on")
    parser.add_argument("reference", nargs="?", help="the photo whose makeup to copy")
    parser.add_argument("--sources", type=Path, metavar="DIR", help="folder mode: a folder of source photos")
    parser.add_argument("--references", type=Path, metavar="DIR_OR_FILE",
                        help="folder mode: a folder of reference photos, or one reference photo")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="output image (single mode) or folder (folder mode)")
    parser.add_argument("--model", default="beautygan", help="model name from `makeup models` (default beautygan)")
    parser.add_argument("--intensity", type=float, default=1.0, help="0 keeps the source, 1 full makeup (default 1)")
    parser.add_argument("--crop-only", action="store_true",
                        help="write the aligned face crop the model produced instead of the full photo")
    parser.add_argument("--all-faces", action="store_true",
                        help="make up every face in the source, not only the largest")
    parser.add_argument("--format", default="png", choices=("png", "jpg", "webp"),
                        help="folder mode: output format (default png)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--allow-untrained", action="store_true",
                        help="run a model that has no trained weights (random output; for trying the machinery)")
    parser.add_argument("--overwrite", action="store_true",
                        help="folder mode: redo outputs that already exist (default: keep them)")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="video mode: the longest clip taken, in seconds (default 60)")
    parser.add_argument("--detect-every", type=_frames, default=15,
                        help="video mode: run the face detector every N frames, tracking in between (default 15)")
    # transfer_video's DEFAULT_MODEL_EVERY, written out so that building the parser imports nothing heavy
    parser.add_argument("--model-every", type=_frames, default=2,
                        help="video mode: run the model every N frames; the frames between wear the last makeup, "
                             "moved with the tracked face (default 2; 1: every frame)")
    parser.add_argument("--no-smoothing", action="store_true",
                        help="video mode: do not smooth the landmarks between frames (for comparison)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folder_mode = args.sources is not None or args.references is not None
    if folder_mode and (args.source or args.reference):
        print("error: give either SOURCE REFERENCE or --sources/--references, not both", file=sys.stderr)
        return 2
    if folder_mode and (args.sources is None or args.references is None):
        print("error: folder mode needs both --sources DIR and --references DIR_OR_FILE", file=sys.stderr)
        return 2
    if not folder_mode and not (args.source and args.reference):
        print("error: give SOURCE and REFERENCE photos (or --sources and --references folders)", file=sys.stderr)
        return 2
    if not 0.0 <= args.intensity <= 1.0:
        print(f"error: --intensity must be between 0 and 1, got {args.intensity}", file=sys.stderr)
        return 2

    from makeup.face import FaceError
    from makeup.io import ImageError
    from makeup.models import UnknownModelError
    from makeup.transfer import MakeupPipeline
    from makeup.weights import WeightsError

    try:
        pipeline = MakeupPipeline(models=[args.model], device=args.device, allow_untrained=args.allow_untrained)
    except (WeightsError, UnknownModelError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not pipeline.is_trained(args.model):
        print(f"warning: {args.model!r} has no trained weights: the output is from RANDOM weights", file=sys.stderr)
    if folder_mode:
        return _run_folders(pipeline, args)
    if _is_clip(Path(args.source), args.output):
        return _run_video(pipeline, args)
    try:
        written = _transfer_one(pipeline, args.source, args.reference, args.output, args)
    except (ImageError, FaceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


def _transfer_one(
    pipeline: MakeupPipeline,
    source: str | Path | PreparedImage,
    reference: str | Path | PreparedImage,
    output: Path,
    args: argparse.Namespace,
) -> Path:
    from makeup.io import save_image

    result = pipeline.transfer(source, reference, model=args.model, intensity=args.intensity, all_faces=args.all_faces)
    if args.crop_only:
        from makeup.transfer import blend

        return save_image(blend(result.source_crop, result.output, args.intensity), output)
    return save_image(result.image, output)


def _is_clip(source: Path, output: Path) -> bool:
    """Whether a single source is made up as a clip: a video file, or a GIF asked to become an mp4 (a GIF written
    to an image file is a photo: its first frame)."""
    suffix = source.suffix.lower()
    return suffix in VIDEO_SUFFIXES and (suffix != ".gif" or output.suffix.lower() == ".mp4")


def _run_video(pipeline: MakeupPipeline, args: argparse.Namespace) -> int:
    """Video mode: the clip made up frame by frame, with a progress bar; nothing is left at the output unless
    the whole clip was written (Ctrl-C included)."""
    from tqdm import tqdm

    from makeup.face import FaceError
    from makeup.io import ImageError
    from makeup.video import transfer_video

    if args.output.suffix.lower() != ".mp4":
        print(f"error: a made-up clip is written as H.264 mp4: name the output {args.output.with_suffix('.mp4')}",
              file=sys.stderr)
        return 2
    try:
        with _interrupt_between_images() as interrupted, tqdm(unit="frame", desc="transfer") as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)
                if interrupted.is_set():
                    raise KeyboardInterrupt

            report = transfer_video(pipeline, args.source, args.reference, args.output, args.model,
                                    intensity=args.intensity, smoothing=not args.no_smoothing,
                                    detect_every=args.detect_every, model_every=args.model_every,
                                    max_seconds=args.max_seconds, progress=progress)
    except (ImageError, FaceError) as error:  # VideoError is an ImageError: the clip, or the reference photo
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    carried = f", {report.carried} of them wearing the last model run's makeup" if report.carried else ""
    print(f"wrote {report.output}: {report.frames} frames ({report.made_up} made up{carried}, the rest had no face) "
          f"at {report.fps:.1f} fps")
    return 0


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` (by suffix; their contents are checked when loaded), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _run_folders(pipeline: MakeupPipeline, args: argparse.Namespace) -> int:
    for label, path in (("--sources", args.sources), ("--references", args.references)):
        if not path.exists():
            print(f"error: {label} {path} does not exist", file=sys.stderr)
            return 2
    if not args.sources.is_dir():
        print(f"error: --sources {args.sources} is not a folder", file=sys.stderr)
        return 2
    sources = list_images(args.sources)
    references = list_images(args.references) if args.references.is_dir() else [args.references]
    if not sources or not references:
        print("error: no images found (looked for " + ", ".join(IMAGE_SUFFIXES) + ")", file=sys.stderr)
        return 2

    try:
        with _interrupt_between_images() as interrupted:
            return _transfer_folders(pipeline, args, sources, references, interrupted)
    except KeyboardInterrupt:  # every finished output is complete (atomic writes); a rerun skips them
        print("interrupted: the outputs written so far are complete; run the same command again to continue",
              file=sys.stderr)
        return 130


@contextlib.contextmanager
def _interrupt_between_images():
    """Ctrl-C during a folder run only sets the event it yields; the loop then stops before its next image.

    Native code (face detection, FaceMesh) can swallow the KeyboardInterrupt that Python's own handler raises
    inside it, and the run then carried on to the end. A second Ctrl-C interrupts at once.
    """
    pressed = threading.Event()

    def handler(signum, frame):
        if pressed.is_set():
            raise KeyboardInterrupt
        pressed.set()

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (a notebook worker, a test runner): Ctrl-C stays as it was
        yield pressed
        return
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def _transfer_folders(pipeline: MakeupPipeline, args: argparse.Namespace, sources: list[Path],
                      references: list[Path], interrupted: threading.Event) -> int:
    from tqdm import tqdm

    from makeup.face import FaceError
    from makeup.io import ImageError

    def output_path(source: Path, reference: Path) -> Path:
        return args.output / f"{source.stem}__{reference.stem}.{args.format}"

    if not args.overwrite:  # a rerun after an interruption: keep what is done, detect nothing for it
        done = {(s, r) for s in sources for r in references if output_path(s, r).is_file()}
        sources = [s for s in sources if any((s, r) not in done for r in references)]
        if done:
            print(f"kept {len(done)} output(s) that already exist (--overwrite redoes them)")
    failures: list[str] = []
    prepared_references: dict[Path, PreparedImage] = {}
    for path in references:  # each reference is analysed once, whatever the number of sources
        try:
            prepared_references[path] = pipeline.prepare(path, role="reference")
        except (ImageError, FaceError) as error:
            failures.append(f"{path}: {error}")
    written = 0
    with tqdm(total=len(sources) * len(prepared_references), unit="image", desc="transfer") as progress:
        for source_path in sources:
            if interrupted.is_set():
                raise KeyboardInterrupt
            try:
                source = pipeline.prepare(source_path, role="source", all_faces=args.all_faces)
            except (ImageError, FaceError) as error:
                failures.append(f"{source_path}: {error}")
                progress.update(len(prepared_references))
                continue
            for reference_path, reference in prepared_references.items():
                if interrupted.is_set():
                    raise KeyboardInterrupt
                output = output_path(source_path, reference_path)
                if output.is_file() and not args.overwrite:
                    progress.update(1)
                    continue
                try:
                    _transfer_one(pipeline, source, reference, output, args)
                    written += 1
                except (ImageError, FaceError, OSError) as error:
                    failures.append(f"{source_path} + {reference_path}: {error}")
                progress.update(1)
    print(f"wrote {written} image(s) to {args.output}")
    if failures:
        print(f"skipped {len(failures)} file(s) or pair(s):", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0
