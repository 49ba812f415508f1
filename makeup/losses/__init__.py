"""Training losses: LSGAN, L1 reconstruction, BeautyGAN's histogram (makeup) loss, perceptual, and loss terms.

    from makeup.losses import histogram_loss, lsgan_generator_loss, PerceptualLoss, create_backbone
"""

from makeup.losses.adversarial import lsgan_discriminator_loss, lsgan_generator_loss
from makeup.losses.histogram import DEFAULT_REGION_WEIGHTS, histogram_loss, match_histograms_masked
from makeup.losses.perceptual import (
    BackboneError,
    PerceptualLoss,
    TinyRandomBackbone,
    VGG16Features,
    create_backbone,
    load_vgg16_features,
)
from makeup.losses.reconstruction import cycle_loss, identity_loss, paired_l1_loss, paired_l2_loss, preservation_loss
from makeup.losses.terms import (
    AdversarialTerm,
    ContentTerm,
    CycleTerm,
    GeneratorStep,
    HistogramTerm,
    IdentityTerm,
    LossTerm,
    PairedTerm,
    PairedPerceptualTerm,
    PreservationTerm,
)

__all__ = [
    "AdversarialTerm",
    "BackboneError",
    "ContentTerm",
    "CycleTerm",
    "DEFAULT_REGION_WEIGHTS",
    "GeneratorStep",
    "HistogramTerm",
    "IdentityTerm",
    "LossTerm",
    "PairedTerm",
    "PairedPerceptualTerm",
    "PerceptualLoss",
    "PreservationTerm",
    "TinyRandomBackbone",
    "VGG16Features",
    "create_backbone",
    "cycle_loss",
    "histogram_loss",
    "identity_loss",
    "load_vgg16_features",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "match_histograms_masked",
    "paired_l1_loss",
    "paired_l2_loss",
    "preservation_loss",
]
