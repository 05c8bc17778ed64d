"""Fixed-length segments of waveforms: random crops for training, windows for embedding.

:func:`crop_or_pad` is the one crop of the package: :func:`random_segment`,
:meth:`skaudio.clips.AudioClips.crop` and the training datasets of :mod:`skaudio.data`
all cut through it.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


def crop_or_pad(clip, length: int, offset: int, out: np.ndarray | None = None) -> np.ndarray:
    """The ``length`` samples at ``offset``: a crop of a longer clip, or a shorter one in zeros.

    A clip of at least ``length`` samples gives ``clip[offset : offset + length]``; a
    shorter clip of ``n`` samples is placed at ``offset`` (``0 <= offset <= length - n``)
    in ``length`` zeros.

    Parameters
    ----------
    clip : ndarray of shape (n_samples,), or a sliceable clip
        A waveform, or any object with ``len`` and slicing whose ``clip[:]`` is the whole
        clip (:meth:`skaudio.clips.AudioClips.crop` passes one that reads only the
        samples sliced).
    length : int
        Segment length in samples.
    offset : int
        The crop's start in the clip (a clip of at least ``length`` samples), or the
        clip's start in the segment (a shorter clip).
    out : ndarray of shape (length,) or None, default=None
        Where to write the segment; ``None`` returns a view of a cropped ``clip``, or
        a new zero-padded array of the clip's dtype.

    Returns
    -------
    segment : ndarray of shape (length,)
        ``out`` when given.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.segments import crop_or_pad
    >>> waveform = np.arange(1, 6, dtype=np.float32)
    >>> crop_or_pad(waveform, 3, offset=1).tolist(), crop_or_pad(waveform, 7, offset=1).tolist()
    ([2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0])
    """
    n = len(clip)
    if n >= length:
        segment = clip[offset : offset + length]
        if out is None:
            return segment
        out[:] = segment
        return out
    if out is None:
        out = np.zeros(length, dtype=clip.dtype)
    else:
        out[:] = 0
    out[offset : offset + n] = clip[:]
    return out


def random_offset(n_samples: int, length: int, rng: np.random.Generator) -> int:
    """Where :func:`random_segment` crops a clip of ``n_samples``, or places it in zeros.

    Parameters
    ----------
    n_samples : int
        Length of the clip.
    length : int
        Segment length in samples.
    rng : numpy.random.Generator
        Source of the offset (one draw).

    Returns
    -------
    offset : int
        The crop's start in the clip when ``n_samples >= length``; otherwise the
        clip's start in the zero-padded segment.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.segments import random_offset
    >>> 0 <= random_offset(10, 4, np.random.default_rng(0)) <= 6
    True
    """
    return int(rng.integers(0, abs(n_samples - length) + 1))


def random_segment(waveform: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Crop (or zero-pad) a waveform to ``length`` samples at a random position.

    A clip longer than ``length`` gives a crop at a uniformly random offset. A shorter
    clip is placed at a uniformly random offset inside ``length`` zeros, so the position
    of the padding carries no information a model could match on.

    Parameters
    ----------
    waveform : ndarray of shape (n_samples,), or a sliceable clip
        Mono waveform (or a clip as :func:`crop_or_pad` takes it).
    length : int
        Segment length in samples.
    rng : numpy.random.Generator
        Source of the offset (one draw, :func:`random_offset`).

    Returns
    -------
    segment : ndarray of shape (length,), same dtype as ``waveform``
        A view of ``waveform`` when it is cropped, a new array when it is padded.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.segments import random_segment
    >>> rng = np.random.default_rng(0)
    >>> waveform = np.arange(1, 11, dtype=np.float32)
    >>> random_segment(waveform, 4, rng).tolist()  # a crop
    [6.0, 7.0, 8.0, 9.0]
    >>> segment = random_segment(waveform, 16, rng)  # zero-padded
    >>> segment.shape, segment.dtype, int(np.count_nonzero(segment))
    ((16,), dtype('float32'), 10)
    """
    return crop_or_pad(waveform, length, random_offset(len(waveform), length, rng))


def sliding_windows(waveform: np.ndarray, length: int, hop: int | None = None) -> np.ndarray:
    """Cover a waveform with windows of ``length`` samples.

    A clip no longer than one window is centred in it (zero-padded). A longer clip gets
    windows every ``hop`` samples, plus one window flush with its end so that no
    sample is left out.

    Parameters
    ----------
    waveform : ndarray of shape (n_samples,)
        Mono waveform.
    length : int
        Window length in samples.
    hop : int or None, default=None
        Step between window starts; ``None`` means ``length`` (no overlap).

    Returns
    -------
    windows : ndarray of shape (n_windows, length)
        Same dtype as ``waveform``; ``n_windows`` is 1 for a clip no longer than
        ``length``.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.segments import sliding_windows
    >>> waveform = np.arange(1, 11)
    >>> sliding_windows(waveform, 4).tolist()  # the last window ends with the clip
    [[1, 2, 3, 4], [5, 6, 7, 8], [7, 8, 9, 10]]
    >>> sliding_windows(waveform, 4, hop=2).shape
    (4, 4)
    >>> sliding_windows(waveform[:2], 4).tolist()  # centred and zero-padded
    [[0, 1, 2, 0]]
    """
    n = waveform.shape[0]
    if n <= length:
        window = np.zeros((1, length), dtype=waveform.dtype)
        start = (length - n) // 2
        window[0, start : start + n] = waveform
        return window
    return np.stack([waveform[s : s + length] for s in window_starts(n, length, hop)])


def window_starts(n_samples: int, length: int, hop: int | None = None) -> list[int]:
    """Starts of the windows :func:`sliding_windows` cuts from a clip longer than ``length``.

    Every ``hop`` samples from 0, plus ``n_samples - length`` (a window flush with the
    end) when the last one falls short of it.

    Parameters
    ----------
    n_samples : int
        Length of the clip, more than ``length``.
    length : int
        Window length in samples.
    hop : int or None, default=None
        Step between window starts; ``None`` means ``length``.

    Returns
    -------
    starts : list of int

    Examples
    --------
    >>> from skaudio.segments import window_starts
    >>> window_starts(10, 4)
    [0, 4, 6]
    """
    hop = length if hop is None else hop
    starts = list(range(0, n_samples - length + 1, hop))
    if starts[-1] != n_samples - length:
        starts.append(n_samples - length)
    return starts
