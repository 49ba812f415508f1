"""Evaluation: metrics against ground truth and references, a runner over held-out data, and reports.

    from makeup.evaluate import run_evaluation
    result, written = run_evaluation("cache/faces-256", ["beautygan"], "eval-results")
"""

from makeup.evaluate.metrics import (
    ciede2000,
    psnr,
    region_ciede2000,
    region_histogram_distance,
    rgb_to_lab,
    ssim,
    wasserstein_1d,
)
from makeup.evaluate.runner import EvalModel, EvalPair, evaluate_models, load_eval_models, run_evaluation

__all__ = [
    "EvalModel",
    "EvalPair",
    "ciede2000",
    "evaluate_models",
    "load_eval_models",
    "psnr",
    "region_ciede2000",
    "region_histogram_distance",
    "rgb_to_lab",
    "run_evaluation",
    "ssim",
    "wasserstein_1d",
]
