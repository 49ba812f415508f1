"""The model zoo: registry, exact BeautyGAN sizes, card figures, shapes and the encode/decode contract."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from makeup.models import ModelCard, UnknownModelError, create_model, get_card, list_models, register_model
from makeup.models.base import MakeupGenerator
from makeup.models.beautygan import COPY_GATE_SCALE
from makeup.models.layers import ChannelAffine, InstanceNorm
from makeup.bench.profile import count_params, example_inputs

GENERATORS = list_models("generator")
MEASURED = list_models()  # every card's figures are checked, the classical method's included


@pytest.fixture(autouse=True)
def single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_registry_lists_the_zoo():
    names = list_models()
    for expected in ("beautygan", "beautygan-concat", "decomposed", "ddb-student", "slim-s", "slim-m", "slim-xs",
                     "patchgan"):
        assert expected in names
    assert list_models("discriminator") == ["patchgan"]
    assert all(get_card(name).kind == "generator" for name in GENERATORS)


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(UnknownModelError, match="beautygan"):
        get_card("beautygan-xl")
    with pytest.raises(UnknownModelError):
        create_model("nope")


def test_overrides_replace_config_and_unknown_options_are_refused():
    model = create_model("slim-s", residual_blocks=2)
    assert model.model_config["residual_blocks"] == 2
    assert model.model_name == "slim-s"
    assert len(model.decoder.blocks) == 2
    with pytest.raises(TypeError, match="no config option"):
        create_model("slim-s", depth=3)


def test_a_name_cannot_be_registered_twice():
    card = get_card("slim-s")
    with pytest.raises(ValueError, match="already registered"):
        register_model(card, lambda **config: nn.Identity())


def test_card_kind_is_checked():
    with pytest.raises(ValueError, match="kind"):
        ModelCard(name="x", kind="vae", method="", paper="", params=0, gmacs=0.0, purpose="")


def _forward_counting(model: nn.Module, *inputs: torch.Tensor):
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        outputs = model(*inputs)
    return outputs, counter.get_total_flops() / 2e9


@pytest.mark.parametrize("name", MEASURED)
def test_card_figures_are_the_measured_ones_and_shapes_hold_at_256(name):
    card = get_card(name)
    model = create_model(name).eval()
    inputs = example_inputs(card.kind, size=256)
    outputs, gmacs = _forward_counting(model, *inputs)
    assert count_params(model) == card.params
    assert gmacs == pytest.approx(card.gmacs, abs=0.01)
    if card.kind == "discriminator":
        assert outputs.shape == (1, 1, 30, 30)
    else:
        assert [tuple(output.shape) for output in outputs] == [(1, 3, 256, 256)] * 2


def test_beautygan_two_branch_is_exact():
    model = create_model("beautygan")
    assert count_params(model) == 9_237_376
    _, gmacs = _forward_counting(model.eval(), *example_inputs("generator", 256))
    assert gmacs == pytest.approx(54.0, abs=0.01)


def test_beautygan_concat_is_exact():
    model = create_model("beautygan-concat")
    assert count_params(model) == 8_433_664
    _, gmacs = _forward_counting(model.eval(), *example_inputs("generator", 256))
    assert gmacs == pytest.approx(40.05, abs=0.01)


def test_published_compressed_models_match_the_paper():
    assert get_card("decomposed").params / 1e6 == pytest.approx(3.39, abs=0.005)
    assert get_card("decomposed").gmacs == pytest.approx(30.0, abs=0.05)
    assert get_card("ddb-student").params / 1e6 == pytest.approx(3.14, abs=0.005)
    assert get_card("ddb-student").gmacs == pytest.approx(25.2, abs=0.05)


def test_smallest_student_meets_the_target():
    cheapest = min((get_card(name) for name in GENERATORS), key=lambda card: card.gmacs)
    assert cheapest.name == "slim-xs"
    for name in ("slim-xs", "slim-s", "slim-m"):  # all fit the 20x-fewer-MACs budget
        assert get_card(name).gmacs <= 2.7 and get_card(name).params <= 500_000
    # fewer parameters than TinyBeauty's 80 K, the smallest published makeup network
    assert count_params(create_model("slim-xs")) == get_card("slim-xs").params <= 80_000


def test_beautygan_generator_convs_are_bias_free_with_affine_instance_norm():
    model = create_model("beautygan", stem_norm="instance")  # the paper's
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    norms = [m for m in model.modules() if isinstance(m, InstanceNorm)]
    assert convs and all(conv.bias is None for conv in convs)
    assert len(norms) == 2 * 2 + 1 + 6 * 2 + 2 + 2 * 2 and all(norm.affine for norm in norms)
    teacher = create_model("beautygan")  # the card's: both stems without instance norm, the same parameters
    assert [type(m) for m in teacher.modules() if isinstance(m, ChannelAffine)] == [ChannelAffine] * 2
    assert sum(isinstance(m, InstanceNorm) for m in teacher.modules()) == len(norms) - 2
    assert count_params(teacher) == count_params(model) and set(teacher.state_dict()) == set(model.state_dict())


def test_teacher_stem_sees_absolute_colours_where_instance_norm_cannot():
    torch.manual_seed(0)
    image = torch.rand(1, 3, 96, 96) * 1.2 - 0.8
    warmer = image + torch.tensor([0.2, 0.05, -0.1]).view(1, 3, 1, 1)  # the same photo, another white balance
    teacher = create_model("beautygan").eval()
    paper = create_model("beautygan", stem_norm="instance").eval()
    paper.load_state_dict(teacher.state_dict())

    def relative_change(model):  # away from the borders, where zero padding leaks a little absolute colour
        with torch.no_grad():
            before, after = model.encoder.reference.stem(image), model.encoder.reference.stem(warmer)
        return ((after - before)[..., 8:-8, 8:-8].abs().mean() / before.abs().mean()).item()

    assert relative_change(teacher) > 0.1
    assert relative_change(paper) < 0.1 * relative_change(teacher)
    with pytest.raises(ValueError, match="norm must be one of"):
        create_model("beautygan", stem_norm="batch")


def test_instance_norm_is_exactly_torchs_instance_norm():
    torch.manual_seed(0)
    ours = InstanceNorm(8)
    nn.init.normal_(ours.weight)
    nn.init.normal_(ours.bias)
    reference = nn.InstanceNorm2d(8, affine=True)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(3, 8, 20, 12) * 5 + 2
    for mode in (True, False):  # no running statistics: train and eval agree
        ours.train(mode)
        reference.train(mode)
        assert torch.allclose(ours(x), reference(x), atol=1e-5)


@pytest.mark.parametrize("name", GENERATORS)
def test_generators_take_any_size_divisible_by_4_and_keep_the_contract(name):
    model = create_model(name).eval()
    torch.manual_seed(0)
    source, reference = torch.rand(2, 2, 3, 100, 68) * 2 - 1  # batch 2, non-square, quarter size odd
    assert isinstance(model, MakeupGenerator)
    with torch.no_grad():
        transferred, demakeup = model(source, reference)
        features = model.encode(source, reference)
        decoded = model.decode(features)
    assert transferred.shape == demakeup.shape == (2, 3, 100, 68)
    assert transferred.abs().max() <= 1 and demakeup.abs().max() <= 1
    assert torch.equal(decoded[0], transferred) and torch.equal(decoded[1], demakeup)
    assert all(isinstance(value, torch.Tensor) for value in features.values())
    # the two outputs come from different heads and each depends on both inputs
    assert not torch.allclose(transferred, demakeup)


@pytest.mark.parametrize("name", ["beautygan", "slim-s"])
def test_sizes_not_divisible_by_4_and_mismatched_pairs_are_refused(name):
    model = create_model(name)
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.zeros(1, 3, 66, 64), torch.zeros(1, 3, 66, 64))
    with pytest.raises(ValueError, match="same shape"):
        model(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 128, 128))


def test_two_branch_features_are_named_by_branch_and_resolution():
    features = create_model("beautygan").encode(*example_inputs("generator", 64))
    assert {name: tuple(value.shape[1:]) for name, value in features.items()} == {
        "source_full": (64, 64, 64), "source_half": (128, 32, 32),
        "reference_full": (64, 64, 64), "reference_half": (128, 32, 32),
        "source": (3, 64, 64), "reference": (3, 64, 64),  # the images the residual heads correct
    }


def test_residual_teacher_edits_its_inputs_and_the_papers_variant_draws_from_scratch():
    source, reference = example_inputs("generator", 64)
    source = source.clamp(-1.0, 1.0)
    residual = create_model("beautygan").eval()
    paper = create_model("beautygan", residual_output=False).eval()
    assert count_params(residual) == count_params(paper)
    assert set(residual.state_dict()) == set(paper.state_dict())  # the same weights fit either variant
    with torch.no_grad():
        transferred, demakeup = residual(source, reference)
        drawn, _ = paper(source, reference)
    assert 0.0 < (transferred - source).abs().mean() < 0.05  # untrained: a small correction of the source
    assert (drawn - source).abs().mean() > 0.3
    with torch.no_grad():
        residual.decoder.transferred_head[-2].weight.zero_()  # no correction: the source itself
        unchanged, _ = residual(source, reference)
        residual.decoder.transferred_head[-2].weight.fill_(1.0)  # a large one is clamped to the image range
        pushed, _ = residual(source, reference)
    assert torch.equal(unchanged, source)
    assert pushed.min() >= -1.0 and pushed.max() <= 1.0 and not torch.equal(pushed, source)


def test_copy_gates_start_closed_and_open_onto_the_reference():
    source, reference = (image.clamp(-1.0, 1.0) for image in example_inputs("generator", 64))
    plain = create_model("beautygan").eval()
    gated = create_model("beautygan", copy_gate=True).eval()
    missing, unexpected = gated.load_state_dict(plain.state_dict(), strict=False)
    assert missing and all(".copy_gates." in key for key in missing) and not unexpected
    with torch.no_grad():
        assert torch.equal(gated(source, reference)[0], plain(source, reference)[0])  # closed: nothing changes
        gated.decoder.transferred_head[-2].weight.zero_()  # no correction from the head itself...
        gated.decoder.copy_gates["transferred"].bias.fill_(1 / COPY_GATE_SCALE)  # ...the gate wide open: the reference
        assert torch.allclose(gated(source, reference)[0], reference, atol=1e-6)
    with pytest.raises(ValueError, match="residual_output"):
        create_model("beautygan", copy_gate=True, residual_output=False)


def test_a_copy_gate_dead_zone_closes_small_gates_and_shrinks_open_ones():
    source, reference = (image.clamp(-1.0, 1.0) for image in example_inputs("generator", 64))
    zoned = create_model("beautygan", copy_gate=True, copy_gate_dead_zone=0.05).eval()
    with torch.no_grad():
        zoned.decoder.transferred_head[-2].weight.zero_()  # the output is the source plus the gated copy alone
        gate = zoned.decoder.copy_gates["transferred"].bias
        gate.fill_(0.04 / COPY_GATE_SCALE)  # inside the dead zone: closed
        assert torch.equal(zoned(source, reference)[0], source)
        gate.fill_(0.55 / COPY_GATE_SCALE)  # half open once the dead zone is taken off
        expected = (source + 0.5 * (reference - source)).clamp(-1.0, 1.0)
        assert torch.allclose(zoned(source, reference)[0], expected, atol=1e-5)


def test_slim_students_work_at_half_resolution_and_edit_their_inputs():
    model = create_model("slim-s").eval()
    source, reference = example_inputs("generator", 64)
    with torch.no_grad():
        features = model.encode(source, reference)
        for parameter in model.decoder.transferred_head.body[-2].parameters():
            parameter.zero_()  # a head that adds no correction returns its input image
        transferred, _ = model(source, reference)
    assert tuple(features["source_half"].shape) == (1, 32, 32, 32)
    assert torch.equal(features["reference"], reference)
    assert torch.allclose(transferred, source)


def test_ddb_student_runs_on_the_decomposed_teachers_decoder():
    teacher = create_model("decomposed").eval()
    student = create_model("ddb-student").eval()
    student.decoder.load_state_dict(teacher.decoder.state_dict())  # same module, so it can be frozen in
    inputs = example_inputs("generator", 64)
    with torch.no_grad():
        student_features = student.encode(*inputs)
        teacher_features = teacher.encode(*inputs)
        # lifted student features have the teacher's shape, so the teacher decoder works from them
        assert student_features["source_half"].shape == teacher_features["source_half"].shape
        assert student_features["source_full"].shape[1] == 16
        assert torch.equal(teacher.decode(student_features)[0], student(*inputs)[0])
    assert {"encoder", "lifts", "decoder"} <= {name for name, _ in student.named_children()}
    assert count_params(student.encoder) + count_params(student.lifts) + count_params(student.decoder) == \
        count_params(student)


def test_patchgan_uses_spectral_norm():
    model = create_model("patchgan")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5
    assert all(hasattr(conv, "parametrizations") and "weight" in conv.parametrizations for conv in convs)
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 128, 128)).shape == (2, 1, 14, 14)


def test_relation_matrix_is_channel_free_and_pooled():
    from makeup.distill import relation_matrix

    torch.manual_seed(0)
    features = torch.randn(2, 16, 8, 8)
    relations = relation_matrix(features)
    assert relations.shape == (2, 64, 64)
    assert torch.allclose(relations.norm(dim=2), torch.ones(2, 64), atol=1e-5)
    assert torch.equal(relations.argmax(dim=2)[0], torch.arange(64))  # each position is most like itself
    # the same positions in more channels (a wider network), scaled: the same relations
    wider = torch.cat([features, features], dim=1) * 3.0
    assert torch.allclose(relation_matrix(wider), relations, atol=1e-5)
    assert relation_matrix(torch.randn(1, 4, 128, 96), max_side=32).shape == (1, 32 * 24, 32 * 24)


def test_the_models_layer_imports_nothing_above_it():
    """`makeup.models` holds networks and their registry: its modules import only each other, never the data,
    training, classical, transfer or app layers (the registry names classical methods as strings only)."""
    import ast
    from pathlib import Path

    import makeup.models

    folder = Path(makeup.models.__file__).parent
    upward = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            upward += [f"{path.name}: {name}" for name in names
                       if name.split(".")[0] == "makeup" and not name.startswith("makeup.models")]
    assert len(list(folder.glob("*.py"))) > 5 and not upward, upward
