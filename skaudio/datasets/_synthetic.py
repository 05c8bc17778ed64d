"""Synthetic harmonic tones: a labelled audio task that is fast to generate."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_tones"]


def make_tones(
    n_clips: int = 200,
    *,
    n_classes: int = 4,
    sample_rate: int = 16000,
    duration: tuple[float, float] = (0.5, 1.0),
    fmin: float = 150.0,
    fmax: float = 600.0,
    noise_level: float = 0.1,
    random_state=None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Harmonic tones labelled by pitch band, with nuisance that varies within each clip.

    The range ``[fmin, fmax]`` is split into ``n_classes`` equal bands on a log scale;
    a clip of class ``k`` has a fundamental drawn uniformly (log scale) from the middle
    80% of band ``k``. Everything else is nuisance: the timbre (harmonic amplitudes
    decay as ``h ** -r`` with ``r`` uniform in [0.5, 2]), the phase of every
    harmonic, the length, and a level that wanders by up to 20 dB *within* the clip,
    plus white noise. So the pitch is what identifies a clip across its segments,
    while the level does not.

    Parameters
    ----------
    n_clips : int, default=200
        Number of clips; the classes take turns, so they are balanced.
    n_classes : int, default=4
        Number of pitch bands (classes).
    sample_rate : int, default=16000
        Sample rate of the clips, in Hz.
    duration : (float, float), default=(0.5, 1.0)
        Range of clip lengths in seconds.
    fmin, fmax : float, default=150.0, 600.0
        Range of fundamental frequencies in Hz.
    noise_level : float, default=0.1
        Standard deviation of the white noise relative to the tone's peak.
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice; pass an int for reproducible clips.

    Returns
    -------
    X : list of ndarray of shape (n_samples_i,), dtype float32
        The clips, of random lengths within ``duration``.
    y : ndarray of shape (n_clips,), dtype int64
        Pitch band of each clip, balanced over classes.

    Examples
    --------
    >>> from skaudio.datasets import make_tones
    >>> X, y = make_tones(n_clips=8, n_classes=2, random_state=0)
    >>> len(X), y.tolist()
    (8, [0, 1, 0, 1, 0, 1, 0, 1])
    """
    rng = check_random_state(random_state)
    edges = np.geomspace(fmin, fmax, n_classes + 1)
    y = np.arange(n_clips) % n_classes
    X = []
    for label in y:
        n = int(rng.uniform(*duration) * sample_rate)
        t = np.arange(n) / sample_rate
        low, high = np.log(edges[label]), np.log(edges[label + 1])
        margin = 0.1 * (high - low)
        f0 = np.exp(rng.uniform(low + margin, high - margin))
        decay = rng.uniform(0.5, 2.0)
        harmonics = np.arange(1, int(sample_rate / 2 // f0) + 1)[:8]
        phases = rng.uniform(0, 2 * np.pi, size=len(harmonics))
        tone = (
            harmonics[:, None] ** -decay
            * np.sin(2 * np.pi * f0 * harmonics[:, None] * t + phases[:, None])
        ).sum(axis=0)
        tone /= np.abs(tone).max()
        tone += noise_level * rng.standard_normal(n)
        # level wandering within the clip: a slow random walk of the gain, in dB
        knots = rng.uniform(-20, 0, size=6)
        envelope_db = np.interp(t, np.linspace(0, t[-1], knots.size), knots)
        X.append((10 ** (envelope_db / 20) * tone).astype(np.float32))
    return X, y.astype(np.int64)
