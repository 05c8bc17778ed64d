"""The part every method shares: waveform -> log-mel -> encoder -> embeddings."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._torch_utils import DeviceGenerator
from ..features import LogMelSpectrogram

__all__ = ["EmbeddingModel"]


class EmbeddingModel(nn.Module):
    """Waveforms to clip (or frame) embeddings through a log-mel frontend and an encoder.

    Methods subclass it and add their pretraining heads and ``forward``; embedding
    always goes through :meth:`embed` / :meth:`embed_frames`, so every method embeds
    the same way.

    Parameters
    ----------
    frontend : LogMelSpectrogram
        Log-mel frontend; also defines the model's sample rate. Encoders of raw
        waveforms (``encoder.input_representation == "waveform"``) bypass it.
    encoder : FrameEncoder
        See :mod:`skaudio.encoders`.
    seed : int, default=0
        Seed of the generator that pretraining-time randomness (augmentations, pitch
        shifts) draws from, on the model's device; see :meth:`random_generator`. An
        estimator's fit passes ``RunRandomness.module_seed()`` (:mod:`skaudio._random`).
    normalize_input : bool, default=False
        Standardise the log-mel input of the encoder with a dataset mean and standard
        deviation (BYOL-A's pre-normalisation): the buffers ``input_mean`` and
        ``input_std`` (0 and 1 until :meth:`set_input_statistics` sets them) are then
        part of the state dict, and :meth:`standardize_input` applies them. Needs a
        log-mel encoder.

    Raises
    ------
    ValueError
        If ``normalize_input`` is given with an encoder of raw waveforms.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import CNNEncoder
    >>> from skaudio.features import LogMelSpectrogram
    >>> from skaudio.models import EmbeddingModel
    >>> _ = torch.manual_seed(0)
    >>> encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    >>> model = EmbeddingModel(LogMelSpectrogram(8000, n_mels=16), encoder).eval()
    >>> waveforms = torch.randn(2, 4000)  # two clips of 0.5 s at 8 kHz
    >>> model.embed(waveforms).shape, model.embed_frames(waveforms).shape
    (torch.Size([2, 8]), torch.Size([2, 13, 4]))
    """

    def __init__(
        self,
        frontend: LogMelSpectrogram,
        encoder: nn.Module,
        seed: int = 0,
        normalize_input: bool = False,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder
        self.seed = seed
        self._generator = DeviceGenerator(seed)
        if normalize_input:
            if not self.uses_spectrogram:
                raise ValueError(
                    "input normalisation standardises log-mel spectrograms, but the encoder "
                    "reads raw waveforms"
                )
            # registered only when used: the state dict of other models is unchanged
            self.register_buffer("input_mean", torch.zeros(()))
            self.register_buffer("input_std", torch.ones(()))

    def random_generator(self, device: torch.device) -> torch.Generator:
        """The model's generator on ``device``, seeded with ``seed`` on first use."""
        return self._generator.on(device)

    @property
    def sample_rate(self) -> int:
        """Rate of the waveforms the model takes, in Hz."""
        return self.frontend.sample_rate

    @property
    def uses_spectrogram(self) -> bool:
        """Whether the encoder reads log-mel spectrograms (else raw waveforms)."""
        return getattr(self.encoder, "input_representation", "logmel") == "logmel"

    @property
    def normalizes_input(self) -> bool:
        """Whether the log-mel input is standardised with dataset statistics."""
        return "input_mean" in self._buffers

    def set_input_statistics(self, mean: float, std: float) -> None:
        """Set the dataset mean and standard deviation that :meth:`standardize_input` uses.

        Parameters
        ----------
        mean : float
            Mean of the log-mel values (dB) of the training data.
        std : float
            Their standard deviation, positive.

        Raises
        ------
        ValueError
            If the model was built without ``normalize_input``, or ``std`` is not
            positive and finite.
        """
        if not self.normalizes_input:
            raise ValueError("the model was built with normalize_input=False")
        if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
            raise ValueError(f"need a finite mean and a positive std, got {mean}, {std}")
        self.input_mean.fill_(mean)
        self.input_std.fill_(std)

    def standardize_input(self, spec: torch.Tensor) -> torch.Tensor:
        """``(spec - input_mean) / input_std`` with dataset normalisation, else ``spec`` itself.

        Applied to the log-mel input of the encoder when embedding (:meth:`spectrogram`)
        and, by the methods' training views, after the spectrogram augmentations
        (which work in dB).

        Parameters
        ----------
        spec : Tensor of shape (batch, n_mels, n_frames)
            Log-mel spectrograms in dB.

        Returns
        -------
        spec : Tensor of the same shape
        """
        if not self.normalizes_input:
            return spec
        return (spec - self.input_mean) / self.input_std

    def spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Encoder input: (batch, 1, n_mels, n_frames) log-mel, or (batch, 1, n_samples).

        The log-mel is standardised when the model normalises its input
        (:meth:`standardize_input`).
        """
        if not self.uses_spectrogram:
            return waveforms.unsqueeze(1)
        return self.standardize_input(self.frontend(waveforms)).unsqueeze(1)

    def embed(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Clip embeddings.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)

        Returns
        -------
        embedding : Tensor of shape (batch, embedding_dim)
        """
        return self.encoder(self.spectrogram(waveforms))

    def embed_frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Frame embeddings, one per :attr:`frame_hop` samples.

        The encoder's frames are :attr:`encoder_hop` samples apart; when that is more
        than :attr:`max_frame_hop_seconds`, the encoder runs on
        :attr:`frame_interleave` copies of its input, each shifted by a further
        ``frame_hop`` samples, and their frames are interleaved
        (:meth:`FrameEncoder.forward_frames_interleaved
        <skaudio.encoders.FrameEncoder.forward_frames_interleaved>`): the same network
        at a finer hop, at ``frame_interleave`` times the cost. Every
        ``frame_interleave``-th frame, from the first, is a frame of the encoder's
        own ``forward_frames``, the frames the clip embedding pools.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)

        Returns
        -------
        frames : Tensor of shape (batch, n_frames_out, frame_dim)
        """
        x = self.spectrogram(waveforms)
        factor = self.frame_interleave
        if factor == 1:
            return self.encoder.forward_frames(x)
        return self.encoder.forward_frames_interleaved(x, factor)

    @property
    def frame_dim(self) -> int:
        """Size of each frame embedding of :meth:`embed_frames`."""
        return self.encoder.frame_dim

    #: longest hop, in seconds, between the frames of :meth:`embed_frames` (HEAR asks
    #: for at most 50 ms); see :attr:`frame_interleave`. None: the encoder's own frames
    max_frame_hop_seconds: float | None = 0.05

    @property
    def encoder_hop(self) -> int:
        """Waveform samples between the encoder's own frames (its ``forward_frames``)."""
        step = self.frontend.hop_length if self.uses_spectrogram else 1
        return self.encoder.time_stride * step

    @property
    def frame_interleave(self) -> int:
        """Encoder passes :meth:`embed_frames` interleaves: frames per encoder frame.

        The smallest divisor ``k`` of ``encoder.time_stride`` whose hop
        ``encoder_hop / k`` is at most :attr:`max_frame_hop_seconds` (``time_stride``,
        one frame per encoder input step, if none is). 1 when the encoder's hop is
        short enough, when :attr:`max_frame_hop_seconds` is None, and for a subclass
        that overrides :meth:`embed_frames`: its frames are its own, at
        :attr:`encoder_hop`.

        Examples
        --------
        >>> import torch
        >>> from skaudio.encoders import CNNEncoder
        >>> from skaudio.features import LogMelSpectrogram
        >>> from skaudio.models import EmbeddingModel
        >>> _ = torch.manual_seed(0)
        >>> encoder = CNNEncoder(n_mels=16, embedding_dim=8)  # 16 log-mel frames: 160 ms
        >>> model = EmbeddingModel(LogMelSpectrogram(8000, n_mels=16), encoder).eval()
        >>> model.encoder_hop, model.frame_interleave, model.frame_hop  # samples at 8 kHz
        (1280, 4, 320)
        >>> waveforms = torch.randn(2, 4000)  # two clips of 0.5 s: 51 log-mel frames
        >>> frames = model.embed_frames(waveforms)  # ceil(51 / 4) frames, 40 ms apart
        >>> frames.shape, model.frame_times(3).tolist()  # centres in seconds
        (torch.Size([2, 13, 4]), [0.075, 0.115, 0.155])
        >>> coarse = encoder.forward_frames(model.spectrogram(waveforms))
        >>> torch.equal(frames[:, ::4], coarse)  # the encoder's own frames, every 4th
        True
        """
        overridden = type(self).embed_frames is not EmbeddingModel.embed_frames
        if overridden or self.max_frame_hop_seconds is None:
            return 1
        stride = self.encoder.time_stride
        longest = self.max_frame_hop_seconds * self.sample_rate
        for factor in range(1, stride + 1):
            if stride % factor == 0 and self.encoder_hop // factor <= longest + 1e-9:
                return factor
        return stride

    @property
    def frame_hop(self) -> int:
        """Waveform samples per frame of :meth:`embed_frames`."""
        return self.encoder_hop // self.frame_interleave

    def frame_times(self, n_frames: int) -> np.ndarray:
        """Centre, in seconds, of each of the first ``n_frames`` frames of :meth:`embed_frames`.

        Frame ``m`` is centred on encoder input ``m * h + encoder.frame_offset``
        (``h = encoder.time_stride / frame_interleave``; the offset is
        ``(time_stride - 1) / 2`` for an encoder that does not set it: the centre of
        the inputs ``m * h`` to ``m * h + time_stride - 1``); a log-mel frame is
        centred on its hop position (``center=True``), a waveform sample on itself.

        Parameters
        ----------
        n_frames : int
            Number of frames.

        Returns
        -------
        times : ndarray of shape (n_frames,), dtype float64
        """
        stride = self.encoder.time_stride
        offset = getattr(self.encoder, "frame_offset", (stride - 1) / 2)
        step = self.encoder_hop / stride  # samples per encoder input step
        hop = stride // self.frame_interleave
        return (np.arange(n_frames) * hop + offset) * step / self.sample_rate
