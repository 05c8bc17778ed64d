"""COLA pretraining model (Saeed, Grangier & Zeghidour, ICASSP 2021), with the
frame-level and pitch-shift strategies of Kuroyanagi & Komatsu (ICASSP 2022)."""

from __future__ import annotations

import torch
from torch import nn

from ..distributed import gather_with_grad
from ..features import LogMelSpectrogram, warp_frequency
from ..heads import ProjectionHead
from ..losses import COLAOutput
from ._base import EmbeddingModel

__all__ = ["COLAModel"]


class COLAModel(EmbeddingModel):
    """Encoder + projection head + similarity, scoring every anchor against every positive.

    The pretraining model of COLA (Saeed, Grangier & Zeghidour, 2021), trained with
    :class:`skaudio.losses.COLACriterion`: two segments of each clip, the anchor and
    the positive, are embedded and projected (Linear -> LayerNorm -> tanh), and the
    similarity of every anchor to every positive of the batch makes the logits.

    All views go through the encoder as one batch, so batch-norm statistics are
    shared by them. In multi-process training the anchors and positives of all
    processes are gathered, so the negatives come from the global batch (see
    :mod:`skaudio.distributed`).

    Two optional strategies of multi-strategy COLA (Kuroyanagi & Komatsu, 2022) reuse
    the encoder's frame sequence:

    - frame level: a frame head (Linear -> LayerNorm -> tanh per frame) and a
      similarity between every pair of frames of each view;
    - pitch shift: the anchor's power spectrogram is pitch-shifted on the model's
      device by a random ratio (:func:`skaudio.features.warp_frequency`) and becomes a
      third view; a pitch head (a two-layer MLP to one scalar per frame) scores the
      frames of the anchor and of its shifted copy.

    Parameters
    ----------
    frontend : LogMelSpectrogram
        Log-mel frontend; also defines the model's sample rate.
    encoder : FrameEncoder
        A log-mel encoder (a waveform encoder only without the two strategies); see
        :mod:`skaudio.encoders`.
    projection_dim : int
        Output size of the projection heads (clip and frame).
    similarity : nn.Module
        Maps projected ``(batch, projection_dim)`` anchors and positives to
        ``(batch, batch)`` logits, e.g. :class:`skaudio.heads.BilinearSimilarity`.
    frame_similarity : nn.Module or None, default=None
        Similarity of the frame strategy (``None`` disables it); applied batch-wise
        to ``(views, n_frames, dim)``.
    pitch_shift_range : (float, float) or None, default=None
        Range of the uniformly drawn frequency ratios of the pitch strategy (``None``
        disables it).
    seed : int, default=0
        Seed of the pitch-shift draws (see :class:`EmbeddingModel`).

    Raises
    ------
    ValueError
        If a strategy is on with an encoder of raw waveforms.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import CNNEncoder
    >>> from skaudio.features import LogMelSpectrogram
    >>> from skaudio.heads import BilinearSimilarity
    >>> from skaudio.models import COLAModel
    >>> _ = torch.manual_seed(0)
    >>> encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    >>> model = COLAModel(LogMelSpectrogram(8000, n_mels=16), encoder, 8, BilinearSimilarity(8))
    >>> output = model(torch.randn(4, 2000), torch.randn(4, 2000))  # anchors, positives
    >>> output.clip_logits.shape, output.frame_logits is None
    (torch.Size([4, 4]), True)
    """

    def __init__(
        self,
        frontend: LogMelSpectrogram,
        encoder: nn.Module,
        projection_dim: int,
        similarity: nn.Module,
        frame_similarity: nn.Module | None = None,
        pitch_shift_range: tuple[float, float] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(frontend, encoder, seed=seed)
        if (frame_similarity is not None or pitch_shift_range is not None) and (
            not self.uses_spectrogram
        ):
            raise ValueError("the frame and pitch strategies need a log-mel encoder")
        self.head = ProjectionHead(encoder.embedding_dim, projection_dim)
        self.similarity = similarity
        self.frame_similarity = frame_similarity
        self.frame_head = (
            ProjectionHead(encoder.frame_dim, projection_dim) if frame_similarity else None
        )
        self.pitch_shift_range = pitch_shift_range
        self.pitch_head = (
            nn.Sequential(
                nn.Linear(encoder.frame_dim, encoder.frame_dim),
                nn.ReLU(inplace=True),
                nn.Linear(encoder.frame_dim, 1),
            )
            if pitch_shift_range is not None
            else None
        )

    def _spectrograms(self, anchor: torch.Tensor, positive: torch.Tensor):
        """Log-mel of [anchor; positive; (shifted anchor)], and the shifts in semitones."""
        if self.pitch_shift_range is None:
            return self.frontend(torch.cat([anchor, positive])), None
        low, high = self.pitch_shift_range
        generator = self.random_generator(anchor.device)
        draws = torch.rand(anchor.shape[0], generator=generator, device=anchor.device)
        ratios = low + (high - low) * draws
        power = self.frontend.power_spectrogram(anchor)
        views = [power, self.frontend.power_spectrogram(positive), warp_frequency(power, ratios)]
        semitones = 12.0 * torch.log2(ratios)
        return self.frontend.log_mel(torch.cat(views)), semitones

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor) -> COLAOutput:
        """Similarity logits of every anchor segment against every positive segment.

        Parameters
        ----------
        anchor : Tensor of shape (batch, n_samples)
        positive : Tensor of shape (batch, n_samples)
            Another segment of the same clip as ``anchor``, row for row.

        Returns
        -------
        output : COLAOutput
            ``clip_logits`` of shape (world * batch, world * batch), positives on the
            diagonal: in a run of ``world`` processes (1 unless distributed), every
            anchor of the global batch against every positive of the global batch
            (:func:`skaudio.distributed.gather_with_grad`), identical in every process;
            the frame logits and pitch scores (of this process's batch only) when those
            strategies are on.
        """
        if not self.uses_spectrogram:
            clips = self.embed(torch.cat([anchor, positive]))
            anchors, positives = self.head(clips).chunk(2)
            return COLAOutput(
                self.similarity(gather_with_grad(anchors), gather_with_grad(positives))
            )
        n = anchor.shape[0]
        spectrograms, semitones = self._spectrograms(anchor, positive)
        frames = self.encoder.forward_frames(spectrograms.unsqueeze(1))
        anchors, positives = self.head(self.encoder.pool(frames[: 2 * n])).chunk(2)
        output = COLAOutput(self.similarity(gather_with_grad(anchors), gather_with_grad(positives)))
        if self.frame_head is not None:
            projected = self.frame_head(frames)
            output = output._replace(frame_logits=self.frame_similarity(projected, projected))
        if self.pitch_head is not None:
            scores = self.pitch_head(torch.cat([frames[:n], frames[2 * n :]])).squeeze(-1)
            output = output._replace(
                pitch_original=scores[:n], pitch_shifted=scores[n:], semitones=semitones
            )
        return output
