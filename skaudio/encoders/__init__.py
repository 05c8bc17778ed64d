"""Encoders: plain ``nn.Module``s from log-mel spectrograms or waveforms to embeddings.

Every encoder offers

- ``forward_frames(x) -> (batch, n_frames_out, frame_dim)``: a sequence of frame
  embeddings (time is downsampled by ``time_stride``),
- ``forward(x) -> (batch, embedding_dim)``: the mean and max of the frames over time,

and says in ``input_representation`` whether it takes log-mel spectrograms
``(batch, 1, n_mels, n_frames)`` or raw waveforms ``(batch, 1, n_samples)``.
New encoders join :data:`ENCODERS`.
"""

from __future__ import annotations

import inspect

from ._base import FrameEncoder
from .cnn import CNNEncoder, VGGEncoder
from .cpc import ChannelNorm, CPCLogMelEncoder, CPCWaveformEncoder
from .efficientnet import EfficientNetB0Encoder
from .patches import PatchAutoencoder
from .resnet import ResNet18Encoder, ResNet18WaveformEncoder

__all__ = [
    "ENCODERS",
    "CNNEncoder",
    "CPCLogMelEncoder",
    "CPCWaveformEncoder",
    "ChannelNorm",
    "EfficientNetB0Encoder",
    "FrameEncoder",
    "PatchAutoencoder",
    "ResNet18Encoder",
    "ResNet18WaveformEncoder",
    "VGGEncoder",
    "make_encoder",
]

#: encoder classes by input representation, then by name
ENCODERS: dict[str, dict[str, type[FrameEncoder]]] = {
    "logmel": {
        "cnn": CNNEncoder,
        "cpc": CPCLogMelEncoder,
        "efficientnet_b0": EfficientNetB0Encoder,
        "resnet18": ResNet18Encoder,
        "vgg": VGGEncoder,
    },
    "waveform": {"cpc": CPCWaveformEncoder, "resnet18": ResNet18WaveformEncoder},
}


def make_encoder(
    name: str,
    *,
    n_mels: int,
    embedding_dim: int,
    input_representation: str = "logmel",
    readout_bands: int | str = 1,
) -> FrameEncoder:
    """Build a registered encoder by name, with its default hyperparameters.

    The encoder class is looked up in :data:`ENCODERS`, first by
    ``input_representation``, then by ``name``.

    Parameters
    ----------
    name : str
        ``"cnn"``, ``"cpc"``, ``"efficientnet_b0"``, ``"resnet18"`` or ``"vgg"`` for
        log-mel input; ``"cpc"`` or ``"resnet18"`` for waveforms.
    n_mels : int
        Mel bands of the input spectrogram (unused for waveforms).
    embedding_dim : int
        Size of the clip embedding; must be even.
    input_representation : {"logmel", "waveform"}, default="logmel"
        Input the encoder takes: log-mel spectrograms ``(batch, 1, n_mels, n_frames)``
        or raw waveforms ``(batch, 1, n_samples)``.
    readout_bands : int or "auto", default=1
        Frequency bands kept per frame by the ``"cnn"`` and ``"vgg"`` encoders (see
        :class:`CNNEncoder`); other encoders take only 1. ``"auto"`` is 2 where the
        encoder keeps a frequency axis that holds 2 bands (``"cnn"`` or ``"vgg"`` on
        log-mel input, at least 2 frequency rows left by its poolings: ``n_mels > 16``
        for both, and ``embedding_dim / 2`` even), else 1; the built encoder's
        ``readout_bands`` attribute (1 where it has none) says which.

    Returns
    -------
    encoder : FrameEncoder
        A freshly initialised encoder, mapping its input to clip embeddings
        ``(batch, embedding_dim)``.

    Raises
    ------
    ValueError
        If ``input_representation`` or ``name`` is unknown, or ``readout_bands`` is not
        1 for an encoder without a frequency-keeping readout.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import make_encoder
    >>> _ = torch.manual_seed(0)
    >>> encoder = make_encoder("cnn", n_mels=16, embedding_dim=64)
    >>> type(encoder).__name__, encoder.input_representation
    ('CNNEncoder', 'logmel')
    >>> encoder(torch.randn(2, 1, 16, 40)).shape  # (batch, 1, n_mels, n_frames)
    torch.Size([2, 64])
    >>> make_encoder("cnn", n_mels=64, embedding_dim=64, readout_bands="auto").readout_bands
    2
    >>> make_encoder("cnn", n_mels=16, embedding_dim=64, readout_bands="auto").readout_bands
    1
    """
    if input_representation not in ENCODERS:
        raise ValueError(
            f"unknown input_representation {input_representation!r}; "
            f"choose one of {sorted(ENCODERS)}"
        )
    available = ENCODERS[input_representation]
    if name not in available:
        raise ValueError(
            f"unknown encoder {name!r} for {input_representation} input; "
            f"choose one of {sorted(available)}"
        )
    if readout_bands == "auto":
        readout_bands = _auto_readout_bands(available[name], n_mels, embedding_dim)
    if readout_bands == 1:
        return available[name](n_mels=n_mels, embedding_dim=embedding_dim)
    if available[name] not in (CNNEncoder, VGGEncoder):
        raise ValueError(
            f"readout_bands={readout_bands} needs the 'cnn' or 'vgg' encoder (log-mel "
            f"input), not {name!r} for {input_representation} input; use readout_bands=1"
        )
    return available[name](n_mels=n_mels, embedding_dim=embedding_dim, readout_bands=readout_bands)


def _auto_readout_bands(cls: type[FrameEncoder], n_mels: int, embedding_dim: int) -> int:
    """What ``readout_bands="auto"`` is for ``cls``: 2 where 2 bands fit, else 1.

    2 bands fit a :class:`CNNEncoder` or :class:`VGGEncoder` (at their default
    ``channels``) whose poolings leave at least 2 frequency rows of ``n_mels``, and whose
    ``embedding_dim / 2`` channels split into 2 bands: the checks of their constructor.
    """
    if cls not in (CNNEncoder, VGGEncoder):
        return 1
    channels = inspect.signature(cls).parameters["channels"].default
    rows = cls.frequency_rows(n_mels, channels)
    return 2 if rows >= 2 and embedding_dim % 4 == 0 else 1
