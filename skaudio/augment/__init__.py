"""Audio augmentations: batched torch callables with an explicit random generator.

Waveform augmentations take (batch, n_samples); spectrogram augmentations take log-mel
(batch, n_mels, n_frames) in dB. Where both domains have the same augmentation, the
spectrogram one carries the prefix ``Spec`` (``Gain`` / :class:`SpecGain`,
``NoiseInjection`` / :class:`SpecNoise`, ``TimeMask`` / :class:`SpecTimeMask`, and
:class:`SpecFrequencyMask`). Compose them with :class:`Compose`,
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

from . import spectrogram as _spectrogram
from ._base import Augmentation, Compose, OneOf, RandomApply
from ._base import static_shapes as static_shapes  # internal: out of __all__
from ._base import uses_static_shapes as uses_static_shapes
from .mixing import LogMixupExp
from .policies import POLICIES, make_policy, split_by_domain
from .spectrogram import (
    BandStop,
    BatchStandardize,
    CheckerboardNoise,
    FrequencyFlip,
    KeepAboveThreshold,
    KeepPeaks,
    LinearFader,
    MelWarp,
    RandomEQ,
    RandomResizedCrop,
    SpecFrequencyMask,
    SpecGain,
    SpecNoise,
    SpecTimeMask,
    SpectralEnvelope,
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

# the former names of four spectrogram augmentations: deprecated, not in __all__
AdditiveNoise = _spectrogram.AdditiveNoise
AmplitudeScaling = _spectrogram.AmplitudeScaling
FrequencyMasking = _spectrogram.FrequencyMasking
TimeMasking = _spectrogram.TimeMasking

__all__ = [
    "POLICIES",
    "Augmentation",
    "BandStop",
    "BatchStandardize",
    "CheckerboardNoise",
    "Compose",
    "Fade",
    "FrequencyFlip",
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
    "SpecFrequencyMask",
    "SpecGain",
    "SpecNoise",
    "SpecTimeMask",
    "SpectralEnvelope",
    "SpeedPerturbation",
    "TimeMask",
    "TimeReversal",
    "TimeShift",
    "TimeStretch",
    "UtteranceNormalization",
    "make_policy",
    "split_by_domain",
]
