"""How long the app takes to come up and to answer, as a user meets it: start-up (MTCNN, the shipped models, the
examples), the first request and the later ones, through the real server and gradio_client.

    python scripts/app_timings.py [--models beautygan example] [--repeats 5] [--out bench-results/app.json]

Prints a table and writes JSON. Run it on purpose, on an otherwise idle machine; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None, help="default: what the page ticks at start")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="bench-results/app.json")
    args = parser.parse_args()

    start = time.perf_counter()
    import torch
    from gradio_client import Client, handle_file

    from makeup.app import AppLimits, build_app
    from makeup.app.catalog import default_selection, model_entries
    from makeup.app.examples import public_domain_portraits
    from makeup.transfer import MakeupPipeline

    imported = time.perf_counter() - start
    pipeline = MakeupPipeline(allow_untrained=True)
    loaded = time.perf_counter() - start
    app = build_app(pipeline)
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **AppLimits().launch_options())
    ready = time.perf_counter() - start
    models = args.models or default_selection(model_entries())

    folder = Path(tempfile.mkdtemp(prefix="makeup-timings-"))
    faces = public_domain_portraits()
    paths = []
    for name in ("astronaut", "grace-hopper"):
        paths.append(folder / f"{name}.png")
        Image.fromarray(np.asarray(faces[name])).save(paths[-1])
    client = Client(app.local_url, verbose=False)

    def request() -> float:
        begin = time.perf_counter()
        client.predict(handle_file(paths[0]), handle_file(paths[1]), models=models, api_name="/compare")
        return time.perf_counter() - begin

    first = request()
    later = [request() for _ in range(args.repeats)]
    app.close()
    figures = {
        "device": str(pipeline.device), "torch_threads": torch.get_num_threads(), "models": models,
        "imports_s": round(imported, 2), "models_loaded_s": round(loaded, 2), "app_ready_s": round(ready, 2),
        "first_request_s": round(first, 2), "later_request_median_s": round(statistics.median(later), 2),
        "later_requests_s": [round(value, 2) for value in later],
    }
    print("| stage | seconds |\n| --- | ---: |")
    for key in ("imports_s", "models_loaded_s", "app_ready_s", "first_request_s", "later_request_median_s"):
        print(f"| {key} | {figures[key]:.2f} |")
    print(f"models: {', '.join(models)} on {figures['device']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
