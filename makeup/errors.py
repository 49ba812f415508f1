"""The base of every error a person can cause with an input photo; it says which photo it is about."""

from __future__ import annotations


class InputImageError(ValueError):
    """A photo cannot be used (unreadable, too large, no usable face...). `role`: "source", "reference" or None."""

    def __init__(self, message: str, role: str | None = None) -> None:
        super().__init__(message)
        self.role = role


def image_name(role: str | None, capital: bool = False) -> str:
    """How messages name the photo: "the source image", or "the image" when the role is unknown."""
    name = f"the {role} image" if role else "the image"
    return name[:1].upper() + name[1:] if capital else name
