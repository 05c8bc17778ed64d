"""What every encoder shares: frame embeddings in, mean||max pooled clip embedding out."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FrameEncoder"]


class FrameEncoder(nn.Module):
    """Base class of the encoders: frame embeddings, pooled into a clip embedding.

    Subclasses implement ``forward_frames(x) -> (batch, n_frames_out, frame_dim)`` and
    set ``time_stride`` (input steps per output frame) and, for raw-audio input,
    ``input_representation = "waveform"``. The clip embedding concatenates the mean and
    the maximum of the frames over time, so ``frame_dim`` is ``embedding_dim / 2``.
    There is deliberately no linear layer after the pooling: a random one would mix
    features of very different scales and handicap the untrained-encoder baseline
    under a standardised linear probe.

    Shapes: ``forward`` maps log-mel spectrograms ``(batch, 1, n_mels, n_frames)`` (or
    waveforms ``(batch, 1, n_samples)``) to clip embeddings ``(batch, embedding_dim)``;
    ``forward_frames`` maps them to frame embeddings ``(batch, n_frames_out, frame_dim)``.

    Parameters
    ----------
    embedding_dim : int
        Size of the clip embedding; must be even.

    Attributes
    ----------
    input_representation : {"logmel", "waveform"}
        Input the encoder takes: log-mel spectrograms ``(batch, 1, n_mels, n_frames)``
        or raw waveforms ``(batch, 1, n_samples)``.
    time_stride : int
        Input frames (or samples) per output frame.
    embedding_dim : int
        Size of the clip embedding.
    frame_dim : int
        Size of each frame embedding (``embedding_dim / 2``).

    Raises
    ------
    ValueError
        If ``embedding_dim`` is odd.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import FrameEncoder
    >>> class LowestBands(FrameEncoder):
    ...     def forward_frames(self, x):  # the lowest frame_dim mel bands of every frame
    ...         return x[:, 0, : self.frame_dim].transpose(1, 2)
    >>> encoder = LowestBands(embedding_dim=8)
    >>> encoder.forward_frames(torch.zeros(2, 1, 16, 20)).shape
    torch.Size([2, 20, 4])
    >>> encoder(torch.zeros(2, 1, 16, 20)).shape
    torch.Size([2, 8])
    """

    #: ``"logmel"``: input (batch, 1, n_mels, n_frames); ``"waveform"``: (batch, 1, n_samples)
    input_representation = "logmel"
    time_stride = 1

    def __init__(self, embedding_dim: int) -> None:
        super().__init__()
        if embedding_dim % 2:
            raise ValueError(
                f"embedding_dim={embedding_dim} must be even: the clip embedding is the "
                "mean and the max over time of embedding_dim / 2 channels"
            )
        self.embedding_dim = int(embedding_dim)
        self.frame_dim = self.embedding_dim // 2

    def forward_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Frame embeddings; implemented by every subclass.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames) or (batch, 1, n_samples)

        Returns
        -------
        frames : Tensor of shape (batch, n_frames_out, frame_dim)
            About one frame per ``time_stride`` input steps.
        """
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip embeddings.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames) or (batch, 1, n_samples)

        Returns
        -------
        embedding : Tensor of shape (batch, embedding_dim)
        """
        return self.pool(self.forward_frames(x))

    @staticmethod
    def pool(frames: torch.Tensor) -> torch.Tensor:
        """Clip embeddings from frame embeddings: mean and max over time, concatenated.

        Parameters
        ----------
        frames : Tensor of shape (batch, n_frames, frame_dim)

        Returns
        -------
        embedding : Tensor of shape (batch, 2 * frame_dim)
            The mean over time, then the maximum over time.

        Examples
        --------
        >>> import torch
        >>> from skaudio.encoders import FrameEncoder
        >>> frames = torch.tensor([[[1.0, 4.0], [3.0, 0.0]]])  # 1 clip, 2 frames of 2
        >>> FrameEncoder.pool(frames).tolist()
        [[2.0, 2.0, 3.0, 4.0]]
        """
        return torch.cat([frames.mean(dim=1), frames.amax(dim=1)], dim=1)
