"""Audio input: one validator, one decoder and one resampler for every input form.

Every estimator calls :func:`check_audio` first, so every estimator accepts the same
inputs and rejects bad ones with the same messages. Every file, whichever path reads
it (whole here, a crop or a stream in :mod:`skaudio.clips`), is decoded by
:func:`_read_mono` and brought to the target rate by soxr's streaming resampler
(:func:`_resampler`, quality "HQ"); a whole file is :func:`_resample`, which gives
the samples of :func:`librosa.resample` (its default ``res_type="soxr_hq"``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import soundfile as sf
import soxr

from .exceptions import AudioInputWarning

__all__ = ["check_audio", "load_audio_file"]

PathLike = str | os.PathLike

#: a 2-D array with at most this many samples per row, and more rows than that, is
#: probably one recording laid out as (n_samples, n_channels): real layouts have 1 to 8
#: channels (mono to 7.1), and 8 samples (1 ms at 8 kHz) is shorter than any analysis
#: window, so such rows cannot be meaningful clips either way
_FEW_SAMPLES = 8

#: float audio peaking above this is probably integer PCM stored as floats: overs of
#: float processing (gain, resampling ringing) stay well below +6 dBFS, while
#: int16-scaled audio peaks in the hundreds to 32767 unless it is near silence
_FLOAT_PEAK = 2.0


#: what soundfile raises for a file it cannot open or read
_READ_ERRORS = (sf.LibsndfileError, RuntimeError, OSError, TypeError)


#: soxr's quality for every resampling
_QUALITY = "HQ"


def _read_mono(file: sf.SoundFile, frames: int = -1) -> np.ndarray:
    """The next ``frames`` samples of an open file (``-1``: to its end), averaged to mono.

    The one decoder: float32, shape (n_read,), channels averaged in float32.
    """
    return file.read(frames, dtype="float32", always_2d=True).mean(axis=1, dtype=np.float32)


def _resampled_length(n_samples, orig_rate, rate):
    """Samples of ``n_samples`` at ``orig_rate`` resampled to ``rate``: ``ceil(n * rate / orig)``.

    Works on ints and on int arrays (as :func:`librosa.resample` counts them).
    """
    return np.ceil(n_samples * (rate / orig_rate)).astype(np.int64)


def _resampler(orig_rate: int, rate: int) -> soxr.ResampleStream:
    """The one resampler: soxr's, mono float32, fed chunk by chunk (the last with ``last=True``).

    Fed in any chunks, its output is the same samples as one chunk of the whole signal.
    """
    return soxr.ResampleStream(orig_rate, rate, 1, dtype="float32", quality=_QUALITY)


def _fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` cut, or zero-padded at the end, to ``length``."""
    if len(samples) >= length:
        return samples[:length]
    return np.concatenate([samples, np.zeros(length - len(samples), dtype=samples.dtype)])


def _resample(waveform: np.ndarray, orig_rate: int, rate: int) -> np.ndarray:
    """A whole float32 waveform at ``orig_rate`` resampled to ``rate``.

    :func:`_resampler` in one chunk, cut or zero-padded to :func:`_resampled_length`:
    the samples :func:`librosa.resample` gives (its ``soxr_hq`` default, ``fix=True``).
    """
    if orig_rate == rate:
        return waveform
    samples = _resampler(orig_rate, rate).resample_chunk(waveform, last=True)
    return _fit_length(samples, int(_resampled_length(len(waveform), orig_rate, rate)))


def _is_path(obj: object) -> bool:
    return isinstance(obj, str | os.PathLike)


def _check_sample_rate(sample_rate: object) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise TypeError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate}")


def _check_finite(samples: np.ndarray, where: str, first_sample: int = 0) -> np.ndarray:
    """``samples`` unchanged, or a ValueError naming the first NaN or infinite one."""
    finite = np.isfinite(samples)
    if not finite.all():
        at = first_sample + int(np.argmin(finite))
        raise ValueError(f"{where} contains NaN or infinity (first at sample {at})")
    return samples


def load_audio_file(path: PathLike, sample_rate: int) -> np.ndarray:
    """Read one audio file as a mono float32 waveform at ``sample_rate``.

    Multi-channel files are averaged to mono; files recorded at another rate are
    resampled with soxr (quality "HQ"; the samples :func:`librosa.resample` gives).

    Parameters
    ----------
    path : str or os.PathLike
        Any format that libsndfile reads (WAV, FLAC, OGG, ...).
    sample_rate : int
        Rate of the returned waveform, in Hz.

    Returns
    -------
    waveform : ndarray of shape (n_samples,), dtype float32
        The mono waveform at ``sample_rate``.

    Raises
    ------
    ValueError
        If the file is missing, unreadable, corrupt or empty.

    See Also
    --------
    check_audio : Validates any audio input, reading paths with this function.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from skaudio.io import load_audio_file
    >>> stereo = np.stack([np.full(800, 0.5), np.zeros(800)], axis=1)  # (n_samples, 2)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "stereo.wav")
    ...     sf.write(path, stereo, 8000)
    ...     waveform = load_audio_file(path, sample_rate=8000)
    >>> waveform.shape, waveform.dtype, round(float(waveform.mean()), 3)  # channels averaged
    ((800,), dtype('float32'), 0.25)
    """
    try:
        with sf.SoundFile(os.fspath(path)) as file:
            waveform, file_rate = _read_mono(file), file.samplerate
    except _READ_ERRORS as exc:
        raise ValueError(f"could not read audio file {os.fspath(path)!r}: {exc}") from exc
    if waveform.size == 0:
        raise ValueError(f"audio file {os.fspath(path)!r} holds no samples")
    waveform = _resample(waveform, file_rate, sample_rate)
    return np.ascontiguousarray(waveform, dtype=np.float32)


def _as_float_waveform(array: np.ndarray, where: str) -> np.ndarray:
    """Convert a numeric array to float32, scaling integer PCM to [-1, 1]."""
    kind = array.dtype.kind
    if kind == "O":
        raise ValueError(f"{where} is an object array; pass a list of 1-D numeric arrays instead")
    if kind in "iu":
        bits = array.dtype.itemsize * 8
        scale = float(2 ** (bits - 1))
        offset = scale if kind == "u" else 0.0
        return ((array.astype(np.float64) - offset) / scale).astype(np.float32)
    if kind == "f":
        return array.astype(np.float32, copy=False)
    if kind == "c":
        raise ValueError(f"{where} is complex: Complex data not supported; audio must be real")
    raise TypeError(
        f"{where} has dtype {array.dtype}; audio must be real floating point or integer PCM"
    )


def _check_clip(
    clip: object, index: int, sample_rate: int, peaks: dict[int, float] | None = None
) -> np.ndarray:
    """Validate one clip given as a path or an array-like.

    The peak of a float array clip far above 1 is recorded in ``peaks`` (by index).
    """
    if _is_path(clip):
        where = f"clip {index} ({os.fspath(clip)!r})"
        try:
            waveform = load_audio_file(clip, sample_rate)
        except ValueError as exc:
            raise ValueError(f"clip {index}: {exc}") from exc
    else:
        where = f"clip {index}"
        if isinstance(clip, dict | set) or clip is None:
            raise TypeError(f"{where} is a {type(clip).__name__}; expected a waveform or path")
        try:
            array = np.asarray(clip)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where} could not be converted to an array: {exc}") from exc
        if array.ndim != 1:
            raise ValueError(
                f"{where} has shape {array.shape}; each clip must be a 1-D mono waveform "
                "(average the channels of multi-channel audio first)"
            )
        waveform = _as_float_waveform(array, where)
    if waveform.size == 0:
        raise ValueError(f"{where} is empty (0 samples)")
    _check_finite(waveform, where)
    if peaks is not None and not _is_path(clip) and array.dtype.kind == "f":
        peak = float(np.abs(waveform).max())
        if peak > _FLOAT_PEAK:
            peaks[index] = peak
    return np.ascontiguousarray(waveform, dtype=np.float32)


def _warn_short_rows(shape: tuple[int, int]) -> None:
    """Warn when a 2-D array looks like one recording as (n_samples, n_channels)."""
    n_rows, n_columns = shape
    if n_columns <= _FEW_SAMPLES and n_rows > n_columns:
        fix = "X.T" if n_columns == 1 else "[X.mean(axis=1)] (averaged to mono)"
        warnings.warn(
            f"X has shape {shape} and is read as {n_rows} clips of {n_columns} sample(s) "
            f"each. If it is one recording of shape (n_samples, n_channels), pass {fix} "
            "instead",
            AudioInputWarning,
            stacklevel=3,
        )


def _warn_float_peaks(peaks: dict[int, float]) -> None:
    """Warn about float clips far outside [-1, 1] (integer PCM values stored as floats)."""
    if not peaks:
        return
    index = min(peaks)
    others = f" (and {len(peaks) - 1} other clip(s))" if len(peaks) > 1 else ""
    warnings.warn(
        f"clip {index}{others} is float audio with peak {peaks[index]:.6g}, far outside "
        "[-1, 1]: float audio is used unscaled. If these are integer PCM values stored "
        "as floats, scale them (divide int16 values by 32768) or pass the integer array",
        AudioInputWarning,
        stacklevel=3,
    )


def check_audio(X: object, *, sample_rate: int) -> list[np.ndarray]:
    """Validate audio input and return mono float32 waveforms at ``sample_rate``.

    Parameters
    ----------
    X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
        Accepted forms:

        - a list (or tuple) of 1-D waveforms of any lengths, float or integer PCM;
        - a 2-D array, one equal-length clip per row;
        - a list of audio file paths (``str`` or :class:`os.PathLike`), read with
          soundfile, downmixed to mono and resampled to ``sample_rate``.

        Arrays are taken to be at ``sample_rate`` already: nothing in a bare array
        says otherwise. Integer arrays are scaled from their full range to [-1, 1];
        float arrays are used unscaled.
    sample_rate : int
        Declared rate of array input and target rate for files, in Hz.

    Returns
    -------
    waveforms : list of ndarray of shape (n_samples_i,), dtype float32
        One waveform per clip, in input order.

    Raises
    ------
    ValueError
        Empty input, an empty clip, NaN or infinite samples, arrays of the wrong rank,
        object arrays, or a file that is missing, unreadable or corrupt. The message
        names the clip index (and path).
    TypeError
        Input that is not audio at all (a number, a dict, booleans, complex values).

    Warns
    -----
    AudioInputWarning
        A 2-D array of at most 8 samples per row and more rows than samples (probably
        one recording of shape ``(n_samples, n_channels)``: pass ``[X.mean(axis=1)]``,
        or ``X.T`` for one column), or float clips whose peak exceeds 2 (probably
        integer PCM stored as floats: divide int16 values by 32768).

    See Also
    --------
    load_audio_file : Reads one file as it is read here.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.io import check_audio
    >>> waves = check_audio([np.zeros(800), np.ones(1200, dtype=np.int16)], sample_rate=8000)
    >>> [w.shape for w in waves], waves[0].dtype
    ([(800,), (1200,)], dtype('float32'))
    """
    _check_sample_rate(sample_rate)
    if _is_path(X):
        raise TypeError(f"X is a single path ({os.fspath(X)!r}); pass a list of paths, e.g. [path]")
    if hasattr(X, "tocsr") or hasattr(X, "todense"):
        raise TypeError(
            "Sparse data is not supported: audio must be a dense array or a list of waveforms"
        )
    if isinstance(X, list | tuple):
        clips: Sequence[object] = X
    elif isinstance(X, np.ndarray) or hasattr(X, "__array__"):
        array = np.asarray(X)
        if array.dtype.kind == "O":
            raise ValueError(
                "X is an object array; pass a list of 1-D waveforms (or of paths) instead"
            )
        if array.ndim != 2:
            hint = (
                "; Reshape your data: wrap a single clip as X[np.newaxis] or [X]"
                if array.ndim == 1
                else ""
            )
            raise ValueError(
                f"X has shape {array.shape}; expected a 2-D array (n_clips, n_samples) "
                f"or a list of 1-D waveforms{hint}"
            )
        if array.shape[0] > 0 and array.shape[1] == 0:
            raise ValueError(
                f"X has 0 feature(s) (shape={array.shape}) while a minimum of 1 is "
                "required: every clip is empty (0 samples)"
            )
        _warn_short_rows(array.shape)
        clips = list(array)
    else:
        raise TypeError(
            f"X of type {type(X).__name__} is not audio; expected a list of waveforms, "
            "a 2-D array (n_clips, n_samples) or a list of file paths"
        )
    if len(clips) == 0:
        raise ValueError("X is empty: no clips were given (at least 1 is required)")
    peaks: dict[int, float] = {}
    waveforms = [_check_clip(clip, index, sample_rate, peaks) for index, clip in enumerate(clips)]
    _warn_float_peaks(peaks)
    return waveforms
