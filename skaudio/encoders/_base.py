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
    No linear layer follows the pooling (see :ref:`architecture-decisions`).

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
    frame_offset : float
        Centre of output frame 0, in input frames (or samples): frame ``i`` is
        centred on input ``i * time_stride + frame_offset``. ``(time_stride - 1) / 2``
        unless a subclass says otherwise (the centre of the ``time_stride`` inputs
        that a chain of unpadded poolings gives frame 0).
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
    >>> encoder.forward_frames_interleaved(torch.zeros(2, 1, 16, 20), 1).shape
    torch.Size([2, 20, 4])
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

    @property
    def frame_offset(self) -> float:
        """Centre of output frame 0, in input steps (see the class docstring)."""
        return (self.time_stride - 1) / 2

    def forward_frames_interleaved(self, x: torch.Tensor, factor: int) -> torch.Tensor:
        """Frame embeddings at ``factor`` times the rate: shifted passes, interleaved.

        With ``s = time_stride`` and ``h = s / factor``, pass ``j`` (``j = 0`` to
        ``factor - 1``) runs :meth:`forward_frames` on the input without its first
        ``j * h`` steps, and its frame ``i`` becomes frame ``i * factor + j``: frame
        ``m`` starts at input step ``m * h`` and is centred on
        ``m * h + frame_offset``. This is the same network evaluated at a hop of
        ``h`` (nothing is retrained or changed): away from the edges every frame is
        the one the network gives for an input that starts ``m * h`` steps later.
        At the start, pass ``j`` sees zero padding where the input has the ``j * h``
        steps it dropped; at the end, each pass closes its last (ceil-mode) pooling
        window on the input it has, as :meth:`forward_frames` does. Pass 0 is
        :meth:`forward_frames` itself, so every ``factor``-th frame, from the first,
        is exactly a frame of :meth:`forward_frames`. Encoders that pool globally
        (EfficientNet's squeeze-excitation gates) see slightly different gates in
        each pass. Cost: ``factor`` passes.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_mels, n_frames) or (batch, 1, n_samples)
        factor : int
            A positive divisor of ``time_stride``.

        Returns
        -------
        frames : Tensor of shape (batch, n_frames_out, frame_dim)
            ``n_frames_out`` sums the frames of the passes: ``ceil(n / h)`` for
            ``n`` input steps when :meth:`forward_frames` gives ``ceil(n / s)``;
            frame ``m`` is in it when its pass has a frame ``i`` (``m = i *
            factor + j``).

        Raises
        ------
        ValueError
            If ``factor`` is not a positive divisor of ``time_stride``.
        """
        factor = int(factor)
        if factor < 1 or self.time_stride % factor:
            raise ValueError(
                f"factor={factor} must be a positive divisor of time_stride="
                f"{self.time_stride}: the passes are shifted by time_stride / factor steps"
            )
        if factor == 1:
            return self.forward_frames(x)
        hop = self.time_stride // factor
        passes = [self.forward_frames(x)]
        passes += [
            self.forward_frames(x[..., j * hop :])
            for j in range(1, factor)
            if j * hop < x.shape[-1]  # a pass with no input has no frame
        ]
        first = passes[0]
        frames = first.new_empty(first.shape[0], sum(p.shape[1] for p in passes), first.shape[2])
        for j, frames_j in enumerate(passes):
            # the passes' frame counts decrease with j by at most one in all, so the
            # frames of pass j are exactly the slots j, j + factor, ... of the result
            frames[:, j::factor] = frames_j
        return frames

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
