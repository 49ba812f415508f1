"""The model zoo: pure `nn.Module`s behind one registry.

    from makeup.models import create_model, get_card, list_models
    model = create_model("slim-s")
    transferred, demakeup = model(source, reference)   # Nx3xHxW in [-1, 1], H and W divisible by 4

Trained weights load through `makeup.weights.load_model`.
"""

from makeup.models.base import MakeupGenerator
from makeup.models.registry import (
    ModelCard,
    UnknownModelError,
    create_model,
    get_card,
    list_models,
    register_model,
)

__all__ = [
    "MakeupGenerator",
    "ModelCard",
    "UnknownModelError",
    "create_model",
    "get_card",
    "list_models",
    "register_model",
]
