"""Clips read on demand: audio in memory or in files, accessed by segment or by window.

The estimators never hold a corpus of files in memory. :func:`as_clips` validates the
input once (arrays in full, files by their headers) and returns an :class:`AudioClips`
whose segments and windows are read only when a dataset asks for them:

- :class:`ArrayClips` wraps waveforms already in memory (arrays, lists of arrays);
- :class:`FileClips` wraps audio files: a training crop reads only its own samples,
  and embedding streams a file block by block (through the resampler of
  :mod:`skaudio.io`, which gives the same samples in blocks as on the whole file), so
  memory is bounded by a window, not by the file nor by the number of files.

The torch datasets that read clips (``ClipWindows`` among them, still importable from
here) are in :mod:`skaudio.data`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import soundfile as sf

from .io import (
    _READ_ERRORS,
    _check_finite,
    _check_sample_rate,
    _is_path,
    _read_mono,
    _resample,
    _resampled_length,
    _resampler,
    check_audio,
)
from .segments import crop_or_pad, random_segment, sliding_windows, window_starts

__all__ = ["ArrayClips", "AudioClips", "FileClips", "as_clips"]

#: samples read per block when streaming a file
_BLOCK_FRAMES = 65536
#: extra source samples per unit of downsampling ratio read on each side of a resampled
#: crop, so that the crop's samples equal those of the whole file resampled
_RESAMPLE_MARGIN = 256


class AudioClips(Sequence):
    """Mono float32 clips at one sample rate, read on demand.

    ``clips[i]`` is the whole waveform of clip ``i``; :meth:`segment` reads part of
    it; :meth:`windows` yields its embedding windows. ``lengths[i]`` is its number
    of samples at ``sample_rate``.

    Attributes
    ----------
    lengths : ndarray of shape (n_clips,), dtype int64
    sample_rate : int or None
    """

    lengths: np.ndarray
    sample_rate: int | None

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.segment(index, 0, int(self.lengths[index]))

    def segment(self, index: int, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of clip ``index``, shape (stop - start,), float32."""
        raise NotImplementedError

    def crop(
        self, index: int, length: int, offset: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        """:func:`skaudio.segments.crop_or_pad` of clip ``index``, reading only what it returns.

        A crop is read by :meth:`segment`; a clip shorter than ``length`` is read whole
        (``clips[index]``) and placed at ``offset`` in zeros.
        """
        return crop_or_pad(_Clip(self, index), length, offset, out)

    def random_segment(self, index: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """A random crop of ``length`` samples, or the clip zero-padded at a random offset.

        :func:`skaudio.segments.random_segment` of clip ``index``: the same draw, reading
        only the samples it returns.
        """
        return random_segment(_Clip(self, index), length, rng)

    def windows(self, index: int, length: int, hop: int | None = None) -> Iterator[np.ndarray]:
        """The windows of :func:`skaudio.segments.sliding_windows`, a block at a time.

        Yields arrays of shape (n_windows_in_block, length) whose concatenation is
        ``sliding_windows(self[index], length, hop)``.
        """
        yield sliding_windows(self[index], length, hop)


class _Clip:
    """Clip ``index`` of ``clips`` as :func:`skaudio.segments.crop_or_pad` slices it.

    ``clip[a:b]`` reads ``clips.segment(index, a, b)`` and ``clip[:]`` the whole clip.
    """

    dtype = np.float32

    def __init__(self, clips: AudioClips, index: int) -> None:
        self.clips = clips
        self.index = index

    def __len__(self) -> int:
        return int(self.clips.lengths[self.index])

    def __getitem__(self, part: slice) -> np.ndarray:
        if part == slice(None):
            return self.clips[self.index]
        return self.clips.segment(self.index, part.start, part.stop)


class ArrayClips(AudioClips):
    """Waveforms already in memory.

    Parameters
    ----------
    waveforms : list of ndarray of shape (n_samples_i,), float32
        Validated waveforms (see :func:`skaudio.io.check_audio`).
    sample_rate : int or None, default=None
        Their rate, when known.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.clips import ArrayClips
    >>> clips = ArrayClips([np.arange(10, dtype=np.float32)], sample_rate=8000)
    >>> len(clips), clips.lengths.tolist(), clips.segment(0, 2, 5).tolist()
    (1, [10], [2.0, 3.0, 4.0])
    """

    def __init__(self, waveforms: list[np.ndarray], sample_rate: int | None = None) -> None:
        self.waveforms = waveforms
        self.sample_rate = sample_rate
        self.lengths = np.array([len(w) for w in waveforms], dtype=np.int64)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.waveforms[index]

    def segment(self, index: int, start: int, stop: int) -> np.ndarray:
        return self.waveforms[index][start:stop]


class FileClips(AudioClips):
    """Audio files, read on demand at ``sample_rate`` (downmixed to mono, resampled).

    Only the headers are read on construction, and each file's last sample: a missing,
    unreadable, empty or truncated file fails here, with its index and path. Samples
    are read when asked for and checked then: NaN or infinite samples, a read error,
    and a file deleted, shortened or rewritten with another length since construction
    raise a ``ValueError`` naming the clip and the file, never a short or zero-padded
    read.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
    sample_rate : int
        Rate of the returned samples, in Hz.

    Attributes
    ----------
    lengths : ndarray of shape (n_clips,), dtype int64
        Samples per file at ``sample_rate`` (``ceil(frames * sample_rate / file_rate)``).
    file_rates : ndarray of shape (n_clips,), dtype int64
        Each file's own rate.
    file_frames : ndarray of shape (n_clips,), dtype int64
        Each file's number of samples (per channel) at its own rate, from its header.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> from skaudio.clips import FileClips
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "tone.wav")
    ...     sf.write(path, np.sin(np.arange(16000) / 10), 16000)
    ...     clips = FileClips([path], sample_rate=8000)  # resampled on reading
    ...     crop = clips.segment(0, 1000, 1400)
    ...     windows = np.concatenate(list(clips.windows(0, length=3000)))
    >>> clips.lengths.tolist(), crop.shape, windows.shape
    ([8000], (400,), (3, 3000))
    """

    def __init__(self, paths: Sequence[str | os.PathLike], sample_rate: int) -> None:
        self.paths = [os.fspath(p) for p in paths]
        self.sample_rate = sample_rate
        frames = np.empty(len(self.paths), dtype=np.int64)
        rates = np.empty(len(self.paths), dtype=np.int64)
        for index, path in enumerate(self.paths):
            try:
                frames[index], rates[index] = _file_header(path)
            except ValueError as exc:
                raise ValueError(f"clip {index}: {exc}") from exc
        self.file_rates = rates
        self.file_frames = frames
        self.lengths = _resampled_length(frames, rates, sample_rate)

    def __getitem__(self, index: int) -> np.ndarray:
        waveform = self._read(index, 0, int(self.file_frames[index]))
        # as skaudio.io.load_audio_file resamples
        waveform = _resample(waveform, int(self.file_rates[index]), self.sample_rate)
        return self._checked(np.ascontiguousarray(waveform, dtype=np.float32), index, 0)

    def _checked(self, samples: np.ndarray, index: int, first_sample: int) -> np.ndarray:
        return _check_finite(samples, f"clip {index} ({self.paths[index]!r})", first_sample)

    def _read_error(self, index: int, exc: BaseException) -> ValueError:
        """The ValueError for a failed read of file ``index``: missing, or unreadable."""
        path = self.paths[index]
        if not os.path.exists(path):
            return ValueError(
                f"clip {index}: audio file {path!r} no longer exists (it was there when the "
                "clips were listed); restore it, or call again without it"
            )
        return ValueError(
            f"clip {index}: could not read audio file {path!r}: {exc}; the file is corrupt "
            "or was changed while being read: replace or re-encode it, or leave it out"
        )

    def _changed(self, index: int, now: str) -> ValueError:
        return ValueError(
            f"clip {index}: audio file {self.paths[index]!r} changed since it was listed: "
            f"had {int(self.file_frames[index])} samples at {int(self.file_rates[index])} Hz, "
            f"now {now}; call again once the file no longer changes (or leave it out)"
        )

    @contextmanager
    def _open(self, index: int) -> Iterator[sf.SoundFile]:
        """File ``index`` open for reading, checked to be the file that was listed.

        A missing file, a header that no longer matches the listed one (another length
        or rate) and any read error inside the block raise a ``ValueError`` naming the
        clip and the file.
        """
        try:
            file = sf.SoundFile(self.paths[index])
        except _READ_ERRORS as exc:
            raise self._read_error(index, exc) from exc
        with file:
            if (file.frames, file.samplerate) != (
                self.file_frames[index],
                self.file_rates[index],
            ):
                raise self._changed(index, f"{file.frames} samples at {file.samplerate} Hz")
            try:
                yield file
            except _READ_ERRORS as exc:
                raise self._read_error(index, exc) from exc

    def _read(self, index: int, start: int, stop: int) -> np.ndarray:
        """Mono source samples ``[start, stop)`` of file ``index`` at its own rate.

        ``stop`` may pass the end of the file: the samples up to the end are returned.
        """
        expected = max(0, min(stop, int(self.file_frames[index])) - start)
        with self._open(index) as file:
            if start:
                file.seek(start)
            samples = _read_mono(file, expected)
        if len(samples) < expected:
            raise self._changed(index, f"only {start + len(samples)} could be read")
        return samples

    def segment(self, index: int, start: int, stop: int) -> np.ndarray:
        rate = int(self.file_rates[index])
        if rate == self.sample_rate:
            return self._checked(self._read(index, start, stop), index, start)
        # read the matching source range plus a margin for the resampling filter,
        # starting on a source sample that falls exactly on an output sample
        ratio = self.sample_rate / rate
        step = rate // math.gcd(rate, self.sample_rate)
        margin = _RESAMPLE_MARGIN * max(1, math.ceil(1 / ratio))
        source_start = max(0, math.floor(start / ratio) - margin) // step * step
        source_stop = math.ceil(stop / ratio) + margin
        source = self._read(index, source_start, source_stop)
        resampled = _resampler(rate, self.sample_rate).resample_chunk(source, last=True)
        offset = start - source_start * self.sample_rate // rate
        samples = np.zeros(stop - start, dtype=np.float32)
        piece = resampled[offset : offset + stop - start]
        samples[: len(piece)] = piece
        return self._checked(samples, index, start)

    def _stream(self, index: int) -> Iterator[np.ndarray]:
        """The file at ``sample_rate`` in consecutive blocks, exactly ``lengths[index]`` samples."""
        rate = int(self.file_rates[index])
        resampler = None if rate == self.sample_rate else _resampler(rate, self.sample_rate)
        remaining = int(self.lengths[index])
        position = 0
        n_read = 0  # source samples read
        with self._open(index) as file:
            while remaining > 0:
                block = _read_mono(file, _BLOCK_FRAMES)
                n_read += len(block)
                last = len(block) < _BLOCK_FRAMES
                if last and n_read < self.file_frames[index]:
                    raise self._changed(index, f"only {n_read} could be read")
                if resampler is not None:
                    block = resampler.resample_chunk(block, last=last)
                if last and len(block) < remaining:  # rounding: pad as _resample does
                    block = np.concatenate([block, np.zeros(remaining - len(block), np.float32)])
                block = self._checked(block[:remaining], index, position)
                position += len(block)
                remaining -= len(block)
                if len(block):
                    yield block
                if last:
                    break

    def windows(self, index: int, length: int, hop: int | None = None) -> Iterator[np.ndarray]:
        n = int(self.lengths[index])
        if n <= length:
            yield sliding_windows(self[index], length, hop)
            return
        starts = window_starts(n, length, hop)
        buffer = np.zeros(0, dtype=np.float32)
        buffer_start = 0  # clip position of buffer[0]
        next_start = 0  # index into starts
        for block in self._stream(index):
            buffer = np.concatenate([buffer, block])
            ready = []
            while next_start < len(starts) and starts[next_start] + length <= buffer_start + len(
                buffer
            ):
                offset = starts[next_start] - buffer_start
                ready.append(buffer[offset : offset + length])
                next_start += 1
            if ready:
                yield np.stack(ready)
            if next_start < len(starts):  # drop samples no later window needs
                keep_from = starts[next_start] - buffer_start
                buffer, buffer_start = buffer[keep_from:], starts[next_start]


def _file_header(path: str) -> tuple[int, int]:
    """``(frames, samplerate)`` of a file whose header reads, that holds samples, and
    whose last sample reads: a truncated file (its header promises samples that are
    not there) fails now, before any training, not in the middle of it."""
    try:
        file = sf.SoundFile(path)
    except _READ_ERRORS as exc:
        raise ValueError(f"could not read audio file {path!r}: {exc}") from exc
    with file:
        frames, rate = file.frames, file.samplerate
        if frames <= 0:
            raise ValueError(f"audio file {path!r} holds no samples")
        try:
            file.seek(frames - 1)
            n_read = len(file.read(1, dtype="float32", always_2d=True))
        except _READ_ERRORS as exc:
            n_read, reason = 0, f" ({exc})"
        else:
            reason = ""
    if n_read < 1:
        raise ValueError(
            f"audio file {path!r} is truncated or corrupt: its header promises {frames} "
            f"samples but the last one cannot be read{reason}; replace or re-encode the file, "
            "or leave it out"
        )
    return frames, rate


def clips_of(waveforms: AudioClips | Sequence[np.ndarray]) -> AudioClips:
    """``waveforms`` as :class:`AudioClips`: unchanged if they are, else :class:`ArrayClips`."""
    return waveforms if isinstance(waveforms, AudioClips) else ArrayClips(list(waveforms))


def as_clips(X: object, *, sample_rate: int) -> AudioClips:
    """Validate audio input like :func:`skaudio.io.check_audio`, without loading files.

    Parameters
    ----------
    X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
        A list made only of paths gives :class:`FileClips` (headers checked now,
        samples read on demand); anything else is validated in full by
        :func:`skaudio.io.check_audio` and wrapped in :class:`ArrayClips`.
    sample_rate : int

    Returns
    -------
    clips : AudioClips

    Raises
    ------
    ValueError, TypeError
        As :func:`skaudio.io.check_audio`.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.clips import as_clips
    >>> clips = as_clips(np.zeros((3, 800)), sample_rate=8000)
    >>> type(clips).__name__, clips.lengths.tolist()
    ('ArrayClips', [800, 800, 800])
    """
    if isinstance(X, list | tuple) and X and all(_is_path(x) for x in X):
        _check_sample_rate(sample_rate)
        return FileClips(X, sample_rate)
    return ArrayClips(check_audio(X, sample_rate=sample_rate), sample_rate)


def __getattr__(name: str):
    # ClipWindows moved to skaudio.data (which imports this module): still importable here
    if name == "ClipWindows":
        from .data import ClipWindows

        return ClipWindows
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
