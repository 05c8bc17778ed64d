"""Audio augmentations: batched torch callables with an explicit random generator.

Waveform augmentations take (batch, n_samples); spectrogram augmentations take log-mel
(batch, n_mels, n_frames) in dB. Compose them with :class:`Compose`,
:class:`RandomApply` and :class:`OneOf`, or use a named policy (:data:`POLICIES`).
Off the CPU they never make the host wait for the device (static shapes, masks with
``torch.where``); :func:`static_shapes` forces that path on or off.

Examples
--------
>>> import torch
>>> from skaudio.augment import Gain, NoiseInjection, RandomApply, Compose
>>> aug = Compose([Gain(6.0), RandomApply(NoiseInjection(10.0, 20.0), p=0.5)])
>>> x = torch.randn(4, 800)
>>> aug(x, torch.Generator().manual_seed(0)).shape
torch.Size([4, 800])
"""

from ._base import Augmentation, Compose, OneOf, RandomApply, static_shapes, uses_static_shapes
from .mixing import LogMixupExp
from .policies import POLICIES, make_policy, split_by_domain
from .spectrogram import (
    AdditiveNoise,
    AmplitudeScaling,
    BandStop,
    BatchStandardize,
    CheckerboardNoise,
    FrequencyFlip,
    FrequencyMasking,
    KeepAboveThreshold,
    KeepPeaks,
    LinearFader,
    MelWarp,
    RandomEQ,
    RandomResizedCrop,
    SpectralEnvelope,
    TimeMasking,
    TimeReversal,
    UtteranceNormalization,
)
from .waveform import (
    Fade,
    Gain,
    NoiseInjection,
    PitchShift,
    SpeedPerturbation,
    TimeMask,
    TimeShift,
    TimeStretch,
)

__all__ = [
    "POLICIES",
    "AdditiveNoise",
    "AmplitudeScaling",
    "Augmentation",
    "BandStop",
    "BatchStandardize",
    "CheckerboardNoise",
    "Compose",
    "Fade",
    "FrequencyFlip",
    "FrequencyMasking",
    "Gain",
    "KeepAboveThreshold",
    "KeepPeaks",
    "LinearFader",
    "LogMixupExp",
    "MelWarp",
    "NoiseInjection",
    "OneOf",
    "PitchShift",
    "RandomApply",
    "RandomEQ",
    "RandomResizedCrop",
    "SpectralEnvelope",
    "SpeedPerturbation",
    "TimeMask",
    "TimeMasking",
    "TimeReversal",
    "TimeShift",
    "TimeStretch",
    "UtteranceNormalization",
    "make_policy",
    "split_by_domain",
    "static_shapes",
    "uses_static_shapes",
]
