"""The HEAR API (Turian et al., 2022) for any fitted skaudio embedder.

The Holistic Evaluation of Audio Representations benchmark loads a *module* exposing
three functions; this module is one, so a saved model plugs into HEAR's evaluation
kit as it is::

    python -m heareval.embeddings.runner skaudio.hear --model model.joblib

- :func:`load_model` reads a model saved with ``joblib.dump`` (a fitted embedder, or a
  fitted ``Pipeline`` whose first step is one) and wraps it in a :class:`HEARModel`,
  the ``torch.nn.Module`` HEAR expects, with its ``sample_rate``,
  ``scene_embedding_size`` and ``timestamp_embedding_size``;
- :func:`get_scene_embeddings` gives one embedding per sound (the embedder's
  ``transform``);
- :func:`get_timestamp_embeddings` gives the frame embeddings of each sound with their
  centres in milliseconds (the embedder's ``transform_frames``, at a hop of at most
  50 ms for the default encoders).

The adapter checks what HEAR's validator checks: the model's rate is one HEAR accepts
(:data:`HEAR_SAMPLE_RATES`, checked by :func:`load_model`), the audio is a 2-D
``(n_sounds, n_samples)`` tensor, the embeddings are float32 of the documented shapes and
the time stamps are evenly spaced.

Security: a model file is a pickle, and loading one runs the code it holds; load only
files you trust.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._model_file import load_model_file
from .estimators import BaseAudioEmbedder
from .io import _FLOAT_PEAK

__all__ = [
    "HEAR_SAMPLE_RATES",
    "HEARModel",
    "get_scene_embeddings",
    "get_timestamp_embeddings",
    "load_model",
]

#: the sample rates, in Hz, that HEAR accepts for a model (its validator refuses others)
HEAR_SAMPLE_RATES = (16000, 22050, 44100, 48000)


class HEARModel(nn.Module):
    """A fitted skaudio embedder seen as a HEAR model.

    The embedder's network is a submodule, so ``model.to(device)`` moves it (HEAR's
    kit does so before embedding) and the embeddings are computed on that device.

    Any sample rate is accepted here, for use from Python; HEAR itself accepts only
    :data:`HEAR_SAMPLE_RATES`, which :func:`load_model` enforces.

    Parameters
    ----------
    embedder : BaseAudioEmbedder
        A fitted skaudio embedder (``COLAEmbedder``, ``ContrastiveAudioEmbedder``,
        ``CPCEmbedder``, ``TokenTransformerEmbedder``).

    Attributes
    ----------
    sample_rate : int
        Rate the audio must have, in Hz (the embedder's ``sample_rate``).
    scene_embedding_size : int
        Size ``D`` of :func:`get_scene_embeddings`'s embeddings.
    timestamp_embedding_size : int
        Size of :func:`get_timestamp_embeddings`'s frame embeddings.

    Examples
    --------
    >>> from skaudio import COLAEmbedder
    >>> from skaudio.datasets import make_tones
    >>> X, _ = make_tones(n_clips=8, sample_rate=16000, random_state=0)
    >>> embedder = COLAEmbedder(sample_rate=16000, embedding_dim=32, max_epochs=0).fit(X)
    >>> model = HEARModel(embedder)
    >>> model.sample_rate, model.scene_embedding_size, model.timestamp_embedding_size
    (16000, 32, 16)
    """

    def __init__(self, embedder: BaseAudioEmbedder):
        super().__init__()
        if not isinstance(embedder, BaseAudioEmbedder):
            raise ValueError(
                f"a HEAR model wraps a skaudio embedder, got {type(embedder).__name__}"
            )
        check_is_fitted(embedder)
        self.embedder = embedder
        self.network = embedder.net_.module_
        self.sample_rate = int(embedder.sample_rate)
        self.scene_embedding_size = len(embedder.get_feature_names_out())
        # the frame size is read off one short silent clip: the one definition that holds
        # for every method and its options (CPC's context or encoder frames, ...)
        silence = [np.zeros(embedder.segment_length_, dtype=np.float32)]
        self.timestamp_embedding_size = int(embedder.transform_frames(silence)[0][0].shape[1])

    def _checked(self, audio: torch.Tensor) -> torch.Tensor:
        """Check HEAR's ``(n_sounds, n_samples)`` batch; point the embedder at the device."""
        if not isinstance(audio, torch.Tensor) or audio.ndim != 2:
            shape = tuple(audio.shape) if hasattr(audio, "shape") else type(audio).__name__
            raise ValueError(f"audio must be a 2-D tensor (n_sounds, n_samples), got {shape}")
        if audio.shape[0] == 0:
            raise ValueError("audio holds no sound (n_sounds == 0)")
        if audio.shape[1] == 0:
            raise ValueError("audio holds sounds of no sample (n_samples == 0)")
        if audio.dtype == torch.bool or audio.is_complex():
            raise TypeError(
                f"audio has dtype {audio.dtype}; pass float32 audio in [-1, 1] "
                "(integer PCM such as int16 is also accepted, scaled from its full range)"
            )
        self.embedder.net_.device = str(next(self.network.parameters()).device)
        return audio

    def _numpy_clips(self, audio: torch.Tensor) -> list[np.ndarray]:
        """HEAR's batch as the clips of ``transform``, on the host.

        Float audio (HEAR's float32, or another float type) is read as float32 in
        [-1, 1]; integer PCM (e.g. int16) is scaled from its full range as
        :func:`skaudio.io.check_audio` scales integer arrays, so a sound gives the same
        embedding as through ``transform``.
        """
        audio = self._checked(audio).detach().cpu()
        if audio.is_floating_point():
            audio = audio.float()
        return list(audio.numpy())

    def _tensor_path(self, public: str, tensor: str):
        """The embedder's ``tensor`` method, if its ``public`` one is the one beside it.

        Every embedder family defines ``transform`` with ``_transform_tensor`` (and the
        base class ``transform_frames`` with ``_transform_frames_tensor``), the same
        loop of :mod:`skaudio._inference` on a tensor that stays on its device. None
        when a subclass overrides ``public`` below them, or the instance replaces it:
        the audio then goes through ``public`` itself.
        """
        embedder = self.embedder
        if public in vars(embedder):
            return None
        mro = type(embedder).__mro__
        owner = next((cls for cls in mro if public in vars(cls)), None)
        beside = next((cls for cls in mro if tensor in vars(cls)), None)
        return getattr(embedder, tensor) if owner is not None and owner is beside else None

    def _device_clips(self, audio: torch.Tensor) -> torch.Tensor | None:
        """HEAR's batch as float32 on the network's device, as ``transform`` reads it.

        Integer PCM is scaled from its full range as :func:`skaudio.io.check_audio`
        scales it (the same float32 values). None when the batch must go through
        ``transform`` itself, which raises or warns about it: float samples that are
        NaN, infinite or far outside [-1, 1] (one check, one value read on the host).
        """
        audio = self._checked(audio).detach().to(self.embedder.net_.device)
        if not audio.is_floating_point():
            bits = torch.iinfo(audio.dtype).bits
            scale = float(2 ** (bits - 1))
            offset = 0.0 if audio.dtype.is_signed else scale
            return ((audio.double() - offset) / scale).float()
        audio = audio.float()
        suspicious = ~torch.isfinite(audio).all() | (audio.abs().amax() > _FLOAT_PEAK)
        return None if bool(suspicious) else audio

    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """(n_sounds, n_samples) -> (n_sounds, scene_embedding_size), float32.

        The audio stays on its device through the embedder's frontend and encoder (the
        same embeddings as ``transform``); an embedder with its own ``transform`` is
        called through it.
        """
        samples = None
        on_device = self._tensor_path("transform", "_transform_tensor")
        if on_device is not None:
            samples = self._device_clips(audio)
        if samples is None:
            embeddings = self.embedder.transform(self._numpy_clips(audio))
            embeddings = torch.from_numpy(np.asarray(embeddings))
        else:
            embeddings = on_device(samples)
        expected = (len(audio), self.scene_embedding_size)
        if tuple(embeddings.shape) != expected:
            raise ValueError(
                f"{type(self.embedder).__name__} gave scene embeddings of shape "
                f"{tuple(embeddings.shape)}, not (n_sounds, scene_embedding_size) = "
                f"{expected}; rebuild the HEARModel from the fitted embedder"
            )
        return embeddings.to(device=audio.device, dtype=torch.float32)

    def _host_frames(self, audio: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """``transform_frames`` of the batch, checked to stack: frames and seconds."""
        frames, seconds = self.embedder.transform_frames(self._numpy_clips(audio))
        # the sounds of a batch have one length, hence one number of frames
        counts = sorted({len(f) for f in frames} | {len(s) for s in seconds})
        sizes = {f.shape[1] if np.ndim(f) == 2 else None for f in frames}
        self._check_frames(counts, sizes)
        return torch.from_numpy(np.stack(frames)), np.stack(seconds)

    def _check_frames(self, counts: list, sizes: set) -> None:
        if len(counts) != 1 or sizes != {self.timestamp_embedding_size}:
            raise ValueError(
                f"{type(self.embedder).__name__} gave frames of {counts} time stamps and "
                f"sizes {sorted(sizes, key=str)} for sounds of one length; HEAR needs "
                f"(n_sounds, n_timestamps, {self.timestamp_embedding_size}) with one "
                "n_timestamps for every sound"
            )

    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_sounds, n_samples) -> frames (n_sounds, T, size), centres (n_sounds, T) in ms.

        The audio stays on its device through the embedder's frontend and encoder (the
        same frames as ``transform_frames``); an embedder with its own
        ``transform_frames`` is called through it.
        """
        samples = None
        on_device = self._tensor_path("transform_frames", "_transform_frames_tensor")
        if on_device is not None:
            samples = self._device_clips(audio)
        if samples is None:
            frames, seconds = self._host_frames(audio)
        else:
            frames, times = on_device(samples)
            size = frames.shape[2] if frames.ndim == 3 else None
            self._check_frames([frames.shape[1]], {size})
            seconds = np.tile(times, (len(audio), 1))
        name = type(self.embedder).__name__
        timestamps = 1000.0 * seconds
        hops = np.diff(timestamps, axis=1)
        if hops.size and (np.abs(hops - hops[:, :1]).max() > 1e-3 or (hops <= 0).any()):
            raise ValueError(
                f"{name} gave time stamps that are not evenly spaced (hops from "
                f"{hops.min():.6g} to {hops.max():.6g} ms); HEAR needs a constant hop"
            )
        # HEAR refuses time stamps past the end of the sound: drop the frames whose
        # centre lies in the padding after it (a frame is kept by transform_frames when
        # it starts inside the sound), keeping at least one
        duration_ms = 1000.0 * audio.shape[1] / self.sample_rate
        n_kept = max(1, int((timestamps[0] <= duration_ms).sum()))
        embeddings = frames[:, :n_kept].to(device=audio.device, dtype=torch.float32)
        timestamps = torch.from_numpy(np.ascontiguousarray(timestamps[:, :n_kept])).float()
        return embeddings.contiguous(), timestamps.to(audio.device)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """The scene embeddings, as HEAR's kit may call the model itself."""
        return self.scene_embeddings(audio)


def load_model(model_file_path: str | Path = "", **kwargs) -> HEARModel:
    """Load a model saved with ``joblib.dump`` as a HEAR model.

    Parameters
    ----------
    model_file_path : str or Path
        File holding a fitted skaudio embedder, or a fitted ``Pipeline`` whose first
        step is one (the steps after it, e.g. a probe, are not used).
    **kwargs
        Accepted for HEAR's signature; none is used.

    Returns
    -------
    model : HEARModel
        On the CPU; move it with ``model.to(device)``.

    Raises
    ------
    ValueError
        If the path is empty or unreadable, the file holds no fitted skaudio
        embedder, or the embedder's ``sample_rate`` is not one HEAR accepts
        (:data:`HEAR_SAMPLE_RATES`: 16000, 22050, 44100 or 48000 Hz).

    Warnings
    --------
    Security: the file is unpickled, which runs any code it holds. Load only files
    you trust.

    Examples
    --------
    >>> import joblib, tempfile, torch
    >>> from skaudio import COLAEmbedder
    >>> from skaudio.datasets import make_tones
    >>> X, _ = make_tones(n_clips=8, sample_rate=16000, random_state=0)
    >>> embedder = COLAEmbedder(sample_rate=16000, embedding_dim=32, max_epochs=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = joblib.dump(embedder, f"{folder}/model.joblib")
    ...     model = load_model(f"{folder}/model.joblib")
    >>> get_scene_embeddings(torch.zeros(3, 16000), model).shape
    torch.Size([3, 32])
    """
    _, embedder = load_model_file(model_file_path, caller="load_model")
    rate = getattr(embedder, "sample_rate", None)
    if rate not in HEAR_SAMPLE_RATES:
        rates = ", ".join(str(r) for r in HEAR_SAMPLE_RATES)
        raise ValueError(
            f"{model_file_path!s} holds a {type(embedder).__name__} at sample_rate={rate}; "
            f"HEAR accepts only models at {rates} Hz: fit the embedder at one of these "
            "rates (e.g. sample_rate=16000) and save it again"
        )
    return HEARModel(embedder)


def get_scene_embeddings(audio: torch.Tensor, model: HEARModel) -> torch.Tensor:
    """One embedding per sound.

    Parameters
    ----------
    audio : Tensor of shape (n_sounds, n_samples)
        Mono audio at ``model.sample_rate``: float32 in [-1, 1] (integer PCM, e.g.
        int16, is scaled from its full range, as :func:`skaudio.io.check_audio` does).
    model : HEARModel

    Returns
    -------
    embeddings : Tensor of shape (n_sounds, model.scene_embedding_size), float32
        On ``audio``'s device.

    Examples
    --------
    See :func:`load_model`.
    """
    return model.scene_embeddings(audio)


def get_timestamp_embeddings(
    audio: torch.Tensor, model: HEARModel
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame embeddings of each sound, with their time stamps.

    Parameters
    ----------
    audio : Tensor of shape (n_sounds, n_samples)
        Mono audio at ``model.sample_rate``: float32 in [-1, 1] (integer PCM, e.g.
        int16, is scaled from its full range, as :func:`skaudio.io.check_audio` does).
    model : HEARModel

    Returns
    -------
    embeddings : Tensor of shape (n_sounds, n_timestamps, model.timestamp_embedding_size)
        Float32, on ``audio``'s device.
    timestamps : Tensor of shape (n_sounds, n_timestamps)
        Centre of each frame in milliseconds from the start of the sound, evenly
        spaced (float32), at the model's ``frame_hop``: at most 50 ms, as HEAR asks,
        for the encoders of COLA and SimCLR (whose coarser frames are interleaved
        from shifted passes, see :meth:`skaudio.models.EmbeddingModel.embed_frames`),
        CPC on waveforms and the token transformer at their defaults. Frames centred
        past the end of the sound are left out (HEAR refuses them), so these are the
        first frames of ``transform_frames``.

    Examples
    --------
    >>> import torch
    >>> from skaudio import COLAEmbedder
    >>> from skaudio.datasets import make_tones
    >>> X, _ = make_tones(n_clips=8, sample_rate=16000, random_state=0)
    >>> embedder = COLAEmbedder(sample_rate=16000, embedding_dim=32, max_epochs=0).fit(X)
    >>> model = HEARModel(embedder)
    >>> embeddings, timestamps = get_timestamp_embeddings(torch.zeros(2, 32000), model)
    >>> embeddings.shape, timestamps.shape
    (torch.Size([2, 49, 16]), torch.Size([2, 49]))
    >>> timestamps[0, :3].tolist()  # frame centres in ms, one frame per 40 ms
    [75.0, 115.0, 155.0]
    """
    return model.timestamp_embeddings(audio)
