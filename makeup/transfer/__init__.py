"""The transfer from photo to photo, one module per stage in the order the data flows:

1. `images`: load each photo, detect its faces, cut the aligned crops (`PreparedImage`; references cached by
   content in `ReferenceCache`)
2. `pair`: what every model shares about a (source, reference) pair: FaceMesh landmarks, masks, the reference
   warped onto each source face, the example lips (`PreparedPair`)
3. `model`: one network or classical method on the pair
4. `finish`: the example lips, the intensity, the chosen face parts
5. `paste`: the made-up crops back into the full-resolution photo

`pipeline.MakeupPipeline` runs them, checking the request first; `STAGES` names them for timings.
"""

from makeup.transfer.finish import blend
from makeup.transfer.images import PreparedImage, ReferenceCache
from makeup.transfer.pair import PairNeeds, PreparedPair
from makeup.transfer.pipeline import SHARED_STAGES, STAGES, MakeupPipeline, TransferResult, UntrainedModelError

__all__ = [
    "SHARED_STAGES",
    "STAGES",
    "MakeupPipeline",
    "PairNeeds",
    "PreparedImage",
    "PreparedPair",
    "ReferenceCache",
    "TransferResult",
    "UntrainedModelError",
    "blend",
]
