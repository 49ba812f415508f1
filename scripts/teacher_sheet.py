"""Draw docs/teacher-sheet.jpg: the teacher and both classical methods on public-domain faces only.

The only faces that may appear in this repository are public-domain portraits that ship in pip packages
(scikit-image's astronaut, matplotlib's Grace Hopper), so each serves as the other's reference after it has been
made up with a synthetic look (`makeup.synth`). Every transfer runs through the full pipeline (MTCNN,
alignment, model, paste-back); the sheet shows the aligned crops.

    python scripts/teacher_sheet.py [--weights-dir weights] [--out docs/teacher-sheet.jpg]

Needs the `train` extra (mediapipe, for the region masks the presets and the classical methods use).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from makeup.app.examples import made_up, public_domain_portraits
from makeup.synth import MakeupStyle, preset

# Two evaluation presets (never seen in training; smoky eyes among them) and a vivid look written here for the
# sheet: blue lids, which real references wear and the usual synthetic looks hardly have.
BLUE_LIDS = MakeupStyle(
    lip_colour=(200, 60, 90), lip_opacity=0.7, lip_gloss=0.3,
    shadow_colours=((55, 120, 220), (30, 50, 150)), shadow_opacity=0.85, shadow_extent=0.7, shadow_gradient=0.5,
    liner_colour=(15, 12, 12), liner_opacity=0.6, liner_thickness=0.4,
)
LOOKS = {"classic-red": preset("classic-red"), "smoky-eye": preset("smoky-eye"), "blue lids": BLUE_LIDS}
METHODS = ("classical", "example", "beautygan")


def labelled(tile: np.ndarray, text: str) -> np.ndarray:
    tile = np.ascontiguousarray(tile)
    cv2.rectangle(tile, (0, 0), (tile.shape[1], 22), (255, 255, 255), -1)
    cv2.putText(tile, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def main() -> None:
    from makeup.transfer import MakeupPipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-dir", default=None, help="trained weights folder (default: weights/)")
    parser.add_argument("--out", default="docs/teacher-sheet.jpg")
    args = parser.parse_args()

    pipeline = MakeupPipeline(models=list(METHODS), device="cpu", weights_dir=args.weights_dir)
    portraits = public_domain_portraits()
    rows = []
    for source_name, reference_name in (("grace-hopper", "astronaut"), ("astronaut", "grace-hopper")):
        for look_name, style in LOOKS.items():
            reference = made_up(pipeline.prepare, portraits[reference_name], style)
            results = pipeline.transfer_all(portraits[source_name], reference, models=list(METHODS))
            crops = [results["beautygan"].source_crop, results["beautygan"].reference_crop,
                     *(results[method].outputs[0] for method in METHODS)]
            captions = [source_name.replace("-", " "), f"{reference_name.replace('-', ' ')}, {look_name}", *METHODS]
            rows.append(np.hstack([labelled(crop.copy(), text) for crop, text in zip(crops, captions)]))
    sheet = np.vstack(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()
