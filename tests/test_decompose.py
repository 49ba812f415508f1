"""Kernel decomposition of a BeautyGAN into the `decomposed` generator, alone and as a training run's start."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from makeup.distill.decompose import DecompositionError, decompose_into, rank1_factors
from makeup.models import create_model

sys.path.insert(0, str(Path(__file__).parent))
from test_train import SIZE, TinyFaces, tiny_config  # noqa: E402

OPTIONS = {"width": 8, "head_depth": 1, "residual_output": True, "stem_norm": "affine"}


def _pair(count: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    faces = TinyFaces(count=count)
    samples = [faces[index] for index in range(count)]
    return (torch.stack([sample["source"] for sample in samples]),
            torch.stack([sample["reference"] for sample in samples]))


def _psnr(first: torch.Tensor, second: torch.Tensor) -> float:
    return (10 * torch.log10(4 / ((first - second) ** 2).mean())).item()


def test_rank1_factors_keeps_a_rank1_kernel_up_to_sign():
    torch.manual_seed(0)
    u, v = torch.randn(6, 4), torch.randn(4, 9)
    weight = torch.einsum("oi,ik->oik", u, v).reshape(6, 4, 3, 3)
    kernels, outer = rank1_factors(weight)
    kernels = kernels.reshape(4, 9)
    cosine = torch.nn.functional.cosine_similarity(kernels, v, dim=1).abs()
    assert torch.allclose(cosine, torch.ones(4), atol=1e-5)
    assert torch.allclose(kernels.norm(dim=1), (u.norm(dim=0) * v.norm(dim=1)), rtol=1e-4)
    rebuilt = torch.einsum("oi,ik->oik", outer, kernels).reshape(6, 4, 3, 3)
    assert torch.allclose(rebuilt, weight, atol=1e-4)


def test_a_teacher_with_rank1_kernels_decomposes_exactly_and_extra_blocks_are_the_identity():
    """Calibrated on the image it is checked on, the decomposition of rank-1-per-channel kernels is exact: the
    norm hands the pointwise conv the depthwise output unchanged and least squares finds the outer factors."""
    torch.manual_seed(0)
    teacher = create_model("beautygan", residual_blocks=1, **OPTIONS).eval()
    with torch.no_grad():
        for block in teacher.decoder.blocks:
            for layer in (block.body[0][0], block.body[1][0]):
                out_channels, in_channels = layer.weight.shape[:2]
                u, v = torch.randn(out_channels, in_channels), torch.randn(in_channels, 9)
                layer.weight.copy_(torch.einsum("oi,ik->oik", u, v).reshape(layer.weight.shape))
    target = create_model("decomposed", residual_blocks=2, **OPTIONS).eval()
    source, reference = _pair(1)
    decompose_into(target, teacher, source, reference)
    with torch.no_grad():
        wanted, got = teacher(source, reference), target(source, reference)
    for first, second in zip(wanted, got):
        assert (first - second).abs().max().item() < 1e-3
    assert target.decoder.blocks[1].body[4].weight.abs().sum().item() == 0  # the extra block adds nothing


def test_the_shipped_teacher_decomposes_close_to_itself_where_random_blocks_do_not():
    from makeup.distill.build import load_teacher

    from makeup.weights import read_manifest

    teacher = load_teacher("beautygan")
    options = read_manifest()["models"]["beautygan"]["config"]  # the teacher's own: width, heads, copy gates
    torch.manual_seed(0)
    target = create_model("decomposed", **options).eval()
    random_blocks = create_model("decomposed", **options).eval()
    random_blocks.load_state_dict({k: v for k, v in teacher.state_dict().items() if ".blocks." not in k},
                                  strict=False)
    source, reference = _pair(4)
    decompose_into(target, teacher, source[:2], reference[:2])
    with torch.no_grad():
        wanted = teacher(source[2:], reference[2:])[0]  # checked on pairs the calibration did not see
        decomposed, random = target(source[2:], reference[2:])[0], random_blocks(source[2:], reference[2:])[0]
    assert _psnr(decomposed, wanted) > 32.0
    assert _psnr(random, wanted) < _psnr(decomposed, wanted) - 8.0


def test_a_target_that_does_not_match_the_teacher_is_refused():
    teacher = create_model("beautygan", residual_blocks=1, **OPTIONS).eval()
    source, reference = _pair(1)
    for changed, message in (({"width": 4}, "do not match"), ({"stem_norm": "instance"}, "do not match"),
                             ({"residual_output": False}, "do not match")):
        target = create_model("decomposed", residual_blocks=1, **{**OPTIONS, **changed})
        with pytest.raises(DecompositionError, match=message):
            decompose_into(target, teacher, source, reference)
    with pytest.raises(DecompositionError, match="only 1"):
        decompose_into(create_model("decomposed", residual_blocks=1, **OPTIONS),
                       create_model("beautygan", residual_blocks=2, **OPTIONS), source, reference)


def test_a_run_starts_from_the_decomposition_on_its_first_samples(tmp_path):
    """With the learning rate at zero the run's generator stays what `init_decomposition` made of the teacher,
    calibrated on the dataset's first samples."""
    from makeup.distill.build import load_teacher
    from makeup.train import checkpoint, train
    from makeup.train.trainer import DECOMPOSITION_SAMPLES
    from makeup.weights import save_weights

    torch.manual_seed(0)
    teacher = create_model("beautygan", residual_blocks=1, **OPTIONS)
    weights = save_weights(teacher, "beautygan", tmp_path / "weights")
    dataset = TinyFaces(count=4)
    config = tiny_config(tmp_path / "run", generator="decomposed", generator_options={"residual_blocks": 2, **OPTIONS},
                         init_decomposition=str(weights), lr_generator=0.0, steps=1, checkpoint_every=1,
                         adversarial_weight=0.0)
    train(config, dataset=dataset)
    saved = checkpoint.load_model_tensors(checkpoint.find_checkpoint(tmp_path / "run"))["generator"]

    expected = create_model("decomposed", residual_blocks=2, **OPTIONS)
    count = min(DECOMPOSITION_SAMPLES, len(dataset))
    source, reference = (torch.stack([dataset[index][key] for index in range(count)])
                         for key in ("source", "reference"))
    decompose_into(expected, load_teacher(str(weights)), source, reference)
    decided = [key for key in expected.state_dict() if not key.startswith("decoder.blocks.1.")]  # extra: random
    for key in decided:
        assert torch.allclose(saved[key], expected.state_dict()[key], atol=1e-5), key
    assert saved["decoder.blocks.1.body.4.weight"].abs().sum().item() == 0
    assert SIZE == source.shape[-1]

    from makeup.train.export import export_generator

    export_generator(tmp_path / "run", "decomposed", weights_dir=tmp_path / "exported")
    card = (tmp_path / "exported" / "decomposed.md").read_text()
    assert f"- initialised by kernel decomposition of `{weights}`" in card
