"""Borrowed and frozen parts of a generator.

The published compressed BeautyGAN (Yang et al., VCIP 2020) trains only a small encoder: its decoder is the
kernel-decomposed teacher's, loaded and frozen. `init_modules` loads named submodules from another model's
weights when a run starts; `frozen_modules` keeps named submodules out of training altogether.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from torch import nn


class SubmoduleError(ValueError):
    """A config names a submodule the generator (or the model it borrows from) does not have, or one that does
    not fit."""


def _submodule(model: nn.Module, name: str, what: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        children = ", ".join(child for child, _ in model.named_children())
        raise SubmoduleError(f"{what} has no submodule {name!r}; its top-level ones are: {children}") from None


def borrow_submodules(generator: nn.Module, sources: Mapping[str, str]) -> None:
    """Load each named submodule of `generator` from the same-named submodule of a model with trained weights
    (a registry name or a .safetensors file)."""
    from makeup.distill.build import load_teacher

    for name, spec in sources.items():
        target = _submodule(generator, name, f"generator {getattr(generator, 'model_name', '')}".strip())
        donor = _submodule(load_teacher(spec), name, spec)
        try:
            target.load_state_dict(donor.state_dict())
        except RuntimeError as error:
            raise SubmoduleError(f"init_modules: {spec}'s {name!r} does not fit this generator's: "
                                 f"{str(error).splitlines()[0]}") from None


def freeze_submodules(generator: nn.Module, names: Iterable[str]) -> None:
    """Turn off gradients of the named submodules: no optimiser step or gradient ever reaches them."""
    for name in names:
        _submodule(generator, name, "generator").requires_grad_(False)
