"""Unlabelled faces that visibly wear makeup: they play the makeup role, not the bare one.

The shared face set labels its CelebA-HQ photos "face" (unlabelled), and many are of celebrities in full makeup.
Such a face is a wrong member of a synthetic triplet: the look rendered on it sits on top of real lipstick or eye
makeup that the exact ground truth (the same look on the bare source) does not contain, so a network learns to
ignore real makeup on a reference, and the evaluation scores it for doing so. These faces were judged by eye
(lipstick of a colour no lips have, or eye shadow, smoky eyes or heavy liner seen at a glance; light everyday
makeup stays bare) and count as "makeup": references of the real pairs, never sources or synthetic references.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath
from typing import TypeVar

# file names of celebahq-a/face/ in ../shared/data/faces, with what they wear
MADE_UP_FACES = frozenset({
    "0a4fdac4e7f448718c42f34a5422aee2.jpg",  # red lipstick
    "18f63b3205924aa8956b816e493c7ca0.jpg",  # heavy eye makeup, lipstick
    "1907cad3d8ed4025ac62a874e3674cb4.jpg",  # smoky eyes
    "1e9f8e51f5094272a8d60134606149ce.jpg",  # smoky eyes
    "1f866eb42a5b42a990f10126cdd67ed2.jpg",  # lipstick, liner
    "20f5aa71187048f48a28a5ba34fbdf56.jpg",  # smoky eyes, liner
    "26d3edaa727247b28f353e4a27c1b90a.jpg",  # red lipstick
    "2af6646c3c364354838e31e2e3d72d25.jpg",  # blue eye shadow
    "2c7a9c47828c4d229b06565a6b559e01.jpg",  # smoky eyes
    "3074d8c6944c44a6be658592eeb2bfb1.jpg",  # dark eye makeup
    "32d59ead8af343fd9504fb60eaa7ba0a.jpg",  # red lipstick
    "34e38b2df3b74d8583be03e405f65bcf.jpg",  # pink-red lipstick
    "407f306e093948689baf47588d096ca4.jpg",  # heavy liner
    "481b16d29c1d4fd090e9c56552ea1cb9.jpg",  # kohl liner
    "518c7091b19046a4ba9fc370aeb11090.jpg",  # smoky eyes, dark lipstick
    "5bff938c3d8d4eec81535fb0d5337d7d.jpg",  # pink eye shadow, lipstick
    "60eb43a08710433a9b77b148a50e7c20.jpg",  # heavy liner
    "66f24c0c322a4776966114452ea14e51.jpg",  # kohl liner, lipstick
    "6914e459d1014d79977dff16d5df896c.jpg",  # heavy liner, pink lipstick
    "75e1f3a50d794d06b714a46e1eedf4c1.jpg",  # purple lipstick, liner
    "7dfff35a617d4042bc66e7fca3951198.jpg",  # pink lipstick, eye shadow
    "7e9cc7d858ac485bb1aa5bf0932c7a38.jpg",  # pink lipstick, eye shadow
    "80b06d91b749481d9c7614865c315010.jpg",  # smoky eyes
    "82261e1a078d492bbc54ea0e8d1f15f5.jpg",  # heavy liner
    "862fcdf838634c539d6da0dae895ad69.jpg",  # dark lipstick
    "92ffa379f92a459f93c4c3ac5ef9d588.jpg",  # heavy liner and shadow
    "9fc4b4323ef54e088f4cd60f4fc6b04d.jpg",  # smoky eyes, liner
    "a82c3e404ee649c488b637c3c43f57a5.jpg",  # red lipstick
    "a849e71a79c74763bacc2d70fc926141.jpg",  # heavy liner
    "b3b685f7221745e4bcf0412ffe9184ef.jpg",  # eye shadow, liner
    "b41bd5b7739b4e2fbc69e06e9ddf672b.jpg",  # blue eye shadow, pink lipstick
    "b4cb680301e6443989f95f3a229c0881.jpg",  # purple eye shadow
    "bb78afefd7a14d65bc98a8dc04b3c9c4.jpg",  # red lipstick, eye shadow
    "bd534717846a446f92c1d8dea0e957e7.jpg",  # smoky eyes
    "bd64e705e7a346a182fdb88cc0704049.jpg",  # smoky eyes
    "be97f441019046f7bf44ede3c7520ac5.jpg",  # eye shadow, lipstick
    "cacba49471c54d598a143255deb35a5c.jpg",  # lipstick, liner
    "cf51e7c8045340bc96b4858734c07369.jpg",  # red lipstick
    "dcfe5e838ffc4db9b84c78f90e114b99.jpg",  # blue eye shadow
    "f65fe62b9c7d4be184fc5dfd52dc413d.jpg",  # dark red lipstick
})

UNLABELLED_KIND = "face"
MAKEUP_KIND = "makeup"

Record = TypeVar("Record")


def with_judged_kind(record: Record) -> Record:
    """The record with kind "makeup" where it is an unlabelled face listed in MADE_UP_FACES, else unchanged."""
    if record.kind == UNLABELLED_KIND and PurePosixPath(record.image).name in MADE_UP_FACES:
        return replace(record, kind=MAKEUP_KIND)
    return record
