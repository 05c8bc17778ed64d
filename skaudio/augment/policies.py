"""Named augmentation policies, and turning an ``augmentations`` parameter into them."""

from __future__ import annotations

from collections.abc import Sequence

from . import spectrogram as S
from . import waveform as W
from ._base import Augmentation, OneOf, RandomApply
from .mixing import LogMixupExp

__all__ = ["POLICIES", "make_policy", "split_by_domain"]


def _spectrogram_policy() -> list[Augmentation]:
    """Verma & Smith-style spectrogram views plus SpecAugment masks."""
    return [
        RandomApply(S.SpecGain(10.0), p=0.8),
        RandomApply(S.RandomResizedCrop(0.6), p=0.5),
        RandomApply(
            OneOf([S.CheckerboardNoise(), S.BandStop(), S.KeepAboveThreshold(), S.SpecNoise()]),
            p=0.5,
        ),
        RandomApply(S.SpecTimeMask(0.2), p=0.5),
        RandomApply(S.SpecFrequencyMask(0.2), p=0.5),
    ]


def _waveform_policy() -> list[Augmentation]:
    """CLAR-style waveform views: level, noise, fades, shifts and masks (no resynthesis)."""
    return [
        RandomApply(W.Gain(10.0), p=0.8),
        RandomApply(W.NoiseInjection(5.0, 30.0), p=0.5),
        RandomApply(W.Fade(0.5), p=0.5),
        RandomApply(W.TimeShift(0.5), p=0.5),
        RandomApply(W.TimeMask(0.125), p=0.5),
    ]


def _clar_policy() -> list[Augmentation]:
    """The waveform policy plus pitch shift and time stretch (slower: phase vocoder)."""
    return [
        RandomApply(W.PitchShift(4.0), p=0.5),
        RandomApply(W.TimeStretch(0.8, 1.25), p=0.5),
        *_waveform_policy(),
    ]


def _byol_a_policy(freq_scale: tuple[float, float] = (0.6, 1.5)) -> list[Augmentation]:
    """BYOL-A's views: log-mixup-exp, random resize crop, random linear fader (v2),
    then the post-normalisation of the batch."""
    return [
        LogMixupExp(0.4),
        S.RandomResizedCrop(time_scale=(0.6, 1.5), freq_scale=freq_scale),
        S.LinearFader(4.34),
        S.BatchStandardize(),
    ]


def _speech_policy() -> list[Augmentation]:
    """Speaker-invariance views for speech: speed, vocal tract length, channel, masks."""
    return [
        RandomApply(W.SpeedPerturbation(0.9, 1.1), p=0.5),
        RandomApply(S.MelWarp(0.85, 1.2), p=0.8),
        RandomApply(S.RandomEQ(10, 12.0), p=0.8),
        RandomApply(S.SpecGain(10.0), p=0.8),
        RandomApply(S.RandomResizedCrop(time_scale=(0.8, 1.0), freq_scale=(1.0, 1.0)), p=0.5),
        RandomApply(S.SpecTimeMask(0.2), p=0.5),
        RandomApply(S.SpecFrequencyMask(0.2), p=0.5),
    ]


def _pitch_policy() -> list[Augmentation]:
    """Views for pitch: the waveform policy plus a random EQ, nothing that moves frequency."""
    return [*_waveform_policy(), RandomApply(S.RandomEQ(10, 12.0), p=0.8)]


POLICIES = {
    "none": list,
    "spectrogram": _spectrogram_policy,
    "waveform": _waveform_policy,
    "clar": _clar_policy,
    "waveform+spectrogram": lambda: [*_waveform_policy(), *_spectrogram_policy()],
    "byol-a": _byol_a_policy,
    "byol-a-pitch": lambda: _byol_a_policy(freq_scale=(1.0, 1.0)),
    "speech": _speech_policy,
    "pitch": _pitch_policy,
}


def make_policy(augmentations: str | Sequence[Augmentation] | None) -> list[Augmentation]:
    """A list of augmentations from a policy name, a list, or ``None`` (no augmentation).

    This is how estimators read their ``augmentations`` parameter. The named policies
    (the keys of ``POLICIES``) are:

    - ``"none"``: no augmentation;
    - ``"spectrogram"``: spectrogram views after Verma & Smith (2020) plus SpecAugment
      time and frequency masks;
    - ``"waveform"``: CLAR-style waveform views (gain, noise, fades, shifts and
      masks), without resynthesis;
    - ``"clar"``: the waveform policy plus pitch shift and time stretch (slower: phase
      vocoder);
    - ``"waveform+spectrogram"``: the waveform policy then the spectrogram policy;
    - ``"byol-a"``: BYOL-A's views (Niizumi et al., 2021, 2023): log-mixup-exp with
      another clip of the batch, a random resize crop of 0.6-1.5 on both axes and a
      random linear fader, then BYOL-A's post-normalisation,
      :class:`~skaudio.augment.BatchStandardize` (the training batch standardised
      by its own statistics). Its pre-normalisation is not an augmentation: it is
      the estimators' ``input_normalization="dataset"``, which these two policies
      need (the encoder is trained on standardised inputs, so it must embed
      standardised inputs too);
    - ``"byol-a-pitch"``: the same without frequency scaling, which keeps pitch;
    - ``"speech"``: speaker-invariance views for speech with speakers held out, so
      that speaker identity cannot solve the pretext task (after NANSY / Spin's
      formant and EQ perturbations, VTLP and speed perturbation): each view changes
      what a speaker and a channel change and keeps the words. A speed perturbation
      of 0.9-1.1 (:class:`~skaudio.augment.SpeedPerturbation`, probability 0.5), a
      mel-axis warp of 0.85-1.2 (:class:`~skaudio.augment.MelWarp`, 0.8), a 10-band
      random EQ of +-12 dB (:class:`~skaudio.augment.RandomEQ`, 0.8), a level of
      +-10 dB (0.8), a time-only random resized crop keeping 80-100% of the frames
      (0.5: no frequency scaling on top of the warp), and the SpecAugment time and
      frequency masks of the ``"spectrogram"`` policy (0.5 each). The probabilities
      are not tuned. These invariances cost speaker, emotion and pitch information:
      use it for content (words, keywords, digits), not for speaker tasks. It has no
      per-utterance normalisation (:class:`~skaudio.augment.UtteranceNormalization`):
      a training-time transform the embeddings would not see;
    - ``"pitch"``: views for pitch with instruments (or speakers) held out: the
      ``"waveform"`` policy plus a 10-band random EQ of +-12 dB (probability 0.8), a
      timbre change. Nothing in it moves energy along the frequency axis (no pitch
      shift, speed change, mel warp, frequency stretch or frequency mask), so two views
      of a note share its pitch and differ in level, noise, envelope and spectral
      shape.

    Each call builds new augmentation objects.

    Parameters
    ----------
    augmentations : str, sequence of Augmentation or None
        A policy name, a sequence of augmentations (waveform and spectrogram ones may
        be mixed), or ``None``.

    Returns
    -------
    policy : list of Augmentation
        The augmentations, in the order they are applied; empty for ``None`` and
        ``"none"``.

    Raises
    ------
    ValueError
        If ``augmentations`` is an unknown policy name.
    TypeError
        If an element of the sequence is not an augmentation (a callable with
        ``domain`` ``"waveform"`` or ``"spectrogram"``).

    Examples
    --------
    >>> from skaudio.augment import Gain, SpecTimeMask, make_policy
    >>> [type(aug.augmentation).__name__ for aug in make_policy("waveform")]
    ['Gain', 'NoiseInjection', 'Fade', 'TimeShift', 'TimeMask']
    >>> make_policy([Gain(6.0), SpecTimeMask()]), make_policy(None)
    ([Gain(max_db=6.0), SpecTimeMask(max_fraction=0.2)], [])
    """
    if augmentations is None:
        return []
    if isinstance(augmentations, str):
        try:
            return POLICIES[augmentations]()
        except KeyError:
            raise ValueError(
                f"unknown augmentation policy {augmentations!r}; choose one of "
                f"{sorted(POLICIES)} or pass a list of augmentations"
            ) from None
    policy = list(augmentations)
    for aug in policy:
        if not callable(aug) or getattr(aug, "domain", None) not in ("waveform", "spectrogram"):
            raise TypeError(f"{aug!r} is not an augmentation (see skaudio.augment)")
    return policy


def split_by_domain(
    policy: Sequence[Augmentation],
) -> tuple[list[Augmentation], list[Augmentation]]:
    """Waveform augmentations (run before the frontend) and spectrogram ones (after).

    Parameters
    ----------
    policy : sequence of Augmentation
        Augmentations of both domains, e.g. from :func:`make_policy`.

    Returns
    -------
    waveform : list of Augmentation
        The augmentations whose ``domain`` is ``"waveform"``, in their original order:
        applied to ``(batch, n_samples)`` waveforms, before the log-mel frontend.
    spectrogram : list of Augmentation
        The augmentations whose ``domain`` is ``"spectrogram"``, in their original
        order: applied to ``(batch, n_mels, n_frames)`` log-mels, after the frontend.

    Examples
    --------
    >>> from skaudio.augment import make_policy, split_by_domain
    >>> waveform, spectrogram = split_by_domain(make_policy("waveform+spectrogram"))
    >>> len(waveform), len(spectrogram), spectrogram[0]
    (5, 5, RandomApply(augmentation=SpecGain(max_db=10.0), p=0.8))
    """
    return (
        [a for a in policy if a.domain == "waveform"],
        [a for a in policy if a.domain == "spectrogram"],
    )
