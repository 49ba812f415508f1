"""One registry of models: a card per name and a factory that builds it (`create_model`, `list_models`, `get_card`).

Model modules register themselves on import; the registry imports the built-in ones the first time it is asked,
so `import makeup.models.registry` stays cheap and no module has to import all the others.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

MODEL_KINDS = ("generator", "discriminator", "classical")

# Modules whose import registers models. Order is the order `list_models()` returns them in.
BUILTIN_MODULES = (
    "makeup.models.beautygan",
    "makeup.models.decomposed",
    "makeup.models.students",
    "makeup.models.discriminator",
    # the methods without learning (numpy/OpenCV, makeup.classical), registered as classical methods; imported
    # by name only when the registry is first asked, so the models layer itself never depends on them
    "makeup.classical.lab",
    "makeup.classical.example",
)


@dataclass(frozen=True)
class ModelCard:
    """What a registered model is, where it comes from and what it costs.

    `params` and `gmacs` are measured on the default config: parameters, and multiply-accumulates at 256x256
    with batch 1, both inputs included for generators (one image for discriminators), counted with
    `torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2). `tests/test_models.py` checks them against the
    models themselves.
    """

    name: str
    kind: str
    method: str
    paper: str
    params: int
    gmacs: float
    purpose: str
    config: dict[str, Any] = field(default_factory=dict)
    weights_file: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model card {self.name!r}: kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        if not self.weights_file:
            object.__setattr__(self, "weights_file", f"{self.name}.safetensors")


class UnknownModelError(LookupError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return str(self.args[0])


_CARDS: dict[str, ModelCard] = {}
_FACTORIES: dict[str, Callable[..., nn.Module]] = {}
_builtins_loaded = False


def register_model(card: ModelCard, factory: Callable[..., nn.Module]) -> None:
    """Add a model: `factory(**card.config, **overrides)` must build it. Names are unique."""
    if card.name in _CARDS and _FACTORIES[card.name] is not factory:
        raise ValueError(f"a model named {card.name!r} is already registered")
    _CARDS[card.name] = card
    _FACTORIES[card.name] = factory


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def list_models(kind: str | None = None) -> list[str]:
    """Registered model names in registration order, optionally only those of one kind."""
    _load_builtins()
    return [name for name, card in _CARDS.items() if kind is None or card.kind == kind]


def get_card(name: str) -> ModelCard:
    """The card of a registered model; `UnknownModelError` names the registered ones when `name` is not one."""
    _load_builtins()
    try:
        return _CARDS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; registered models: {', '.join(_CARDS) or 'none'}"
        ) from None


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model with random weights; `overrides` replace entries of the card's config.

    The model carries `model_name` and `model_config` (the config it was built with) so it can be saved and
    rebuilt. Trained weights come from `makeup.weights.load_model`.
    """
    card = get_card(name)
    unknown = set(overrides) - set(card.config)
    if unknown:
        raise TypeError(
            f"model {name!r} has no config option(s) {sorted(unknown)}; its options are {sorted(card.config)}"
        )
    config = {**card.config, **overrides}
    model = _FACTORIES[name](**config)
    model.model_name = name
    model.model_config = config
    return model

