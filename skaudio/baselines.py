"""Hand-crafted baselines: summary statistics of MFCC and log-mel features."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

import librosa
import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval, _fit_context
from .features import LogMelSpectrogram
from .io import check_audio

__all__ = ["LogMelStatistics", "MFCCStatistics"]


class _StatisticsBase(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Mean and standard deviation over time of a frame-wise feature (stateless)."""

    _parameter_constraints: dict = {"sample_rate": [Interval(Integral, 1, None, closed="left")]}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate parameters and input; nothing is learned.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        check_audio(X, sample_rate=self.sample_rate)
        self.n_features_out_ = 2 * self._n_coefficients()
        return self

    def transform(self, X) -> np.ndarray:
        """Summary statistics of each clip.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths

        Returns
        -------
        features : ndarray of shape (n_clips, 2 * n_coefficients), dtype float32
            Per-coefficient mean over frames, then per-coefficient standard deviation.
        """
        check_is_fitted(self)
        extract = self._frame_extractor()
        frames = [extract(w) for w in check_audio(X, sample_rate=self.sample_rate)]
        return np.stack([np.concatenate([f.mean(axis=1), f.std(axis=1)]) for f in frames]).astype(
            np.float32
        )

    @property
    def _n_features_out(self) -> int:
        return self.n_features_out_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class MFCCStatistics(_StatisticsBase):
    """Mean and standard deviation of MFCCs over time: the classic hand-crafted baseline.

    MFCCs come from :func:`librosa.feature.mfcc` with 25 ms windows and a 10 ms hop.

    Parameters
    ----------
    sample_rate : int, default=16000
    n_mfcc : int, default=20

    Examples
    --------
    >>> from skaudio.baselines import MFCCStatistics
    >>> from skaudio.datasets import make_tones
    >>> X, y = make_tones(n_clips=4, sample_rate=8000, random_state=0)
    >>> MFCCStatistics(sample_rate=8000).fit_transform(X).shape
    (4, 40)
    """

    _parameter_constraints: dict = {
        **_StatisticsBase._parameter_constraints,
        "n_mfcc": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, sample_rate: int = 16000, n_mfcc: int = 20) -> None:
        self.sample_rate = sample_rate
        self.n_mfcc = n_mfcc

    def _n_coefficients(self) -> int:
        return self.n_mfcc

    def _frame_extractor(self) -> Callable[[np.ndarray], np.ndarray]:
        win = round(0.025 * self.sample_rate)
        n_fft = 1 << (win - 1).bit_length()
        options = dict(
            sr=self.sample_rate,
            n_mfcc=self.n_mfcc,
            n_fft=n_fft,
            win_length=win,
            hop_length=round(0.010 * self.sample_rate),
            n_mels=min(64, n_fft // 4),
        )

        def extract(waveform: np.ndarray) -> np.ndarray:
            # a clip shorter than one analysis window is zero-padded to one window
            padded = librosa.util.fix_length(waveform, size=max(waveform.size, n_fft))
            return librosa.feature.mfcc(y=padded, **options)

        return extract


class LogMelStatistics(_StatisticsBase):
    """Mean and standard deviation of log-mel bands over time.

    Uses the same frontend as the embedders (:class:`skaudio.features.LogMelSpectrogram`).

    Parameters
    ----------
    sample_rate : int, default=16000
    n_mels : int, default=64

    Examples
    --------
    >>> from skaudio.baselines import LogMelStatistics
    >>> from skaudio.datasets import make_tones
    >>> X, y = make_tones(n_clips=4, sample_rate=8000, random_state=0)
    >>> LogMelStatistics(sample_rate=8000).fit_transform(X).shape
    (4, 128)
    """

    _parameter_constraints: dict = {
        **_StatisticsBase._parameter_constraints,
        "n_mels": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, sample_rate: int = 16000, n_mels: int = 64) -> None:
        self.sample_rate = sample_rate
        self.n_mels = n_mels

    def _n_coefficients(self) -> int:
        return self.n_mels

    def _frame_extractor(self) -> Callable[[np.ndarray], np.ndarray]:
        frontend = LogMelSpectrogram(self.sample_rate, n_mels=self.n_mels)

        def extract(waveform: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return frontend(torch.from_numpy(waveform)[None])[0].numpy()

        return extract
