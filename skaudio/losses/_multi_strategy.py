"""Multi-strategy COLA (Kuroyanagi & Komatsu, 2022): frame-level and pitch-shift losses."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ._contrastive import contrastive_accuracy, contrastive_cross_entropy

__all__ = [
    "COLACriterion",
    "COLAOutput",
    "frame_contrastive_accuracy",
    "frame_contrastive_loss",
    "pitch_shift_loss",
]


def _frame_masks(n_frames: int, margin: int, device: torch.device):
    """(positives, candidates) boolean masks of shape (n_frames, n_frames)."""
    steps = torch.arange(n_frames, device=device)
    distance = (steps[:, None] - steps[None]).abs()
    return (distance > 0) & (distance <= margin), distance > 0


def frame_contrastive_loss(logits: torch.Tensor, margin: int = 1) -> torch.Tensor:
    """Frame-level contrastive loss (Kuroyanagi & Komatsu, 2022, eq. 3-5).

    Within each sequence, the frames at most ``margin`` steps away from frame ``t``
    are its positives and all the other frames its negatives (``t`` itself is never
    a candidate). The loss of frame ``t`` is
    ``-log(sum_pos exp(s_tu) / sum_{u != t} exp(s_tu))``, averaged over frames and
    sequences.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_frames, n_frames)
        Similarity of every frame to every frame of the same sequence.
    margin : int, default=1
        Largest distance, in frames, of a positive.

    Returns
    -------
    loss : Tensor of shape ()
        Zero (still attached to the graph) for sequences of a single frame, which
        have no candidates.
    """
    n_frames = logits.shape[-1]
    if n_frames < 2:
        return logits.sum() * 0.0
    positives, candidates = _frame_masks(n_frames, margin, logits.device)
    every = logits.masked_fill(~candidates, float("-inf")).logsumexp(dim=-1)
    near = logits.masked_fill(~positives, float("-inf")).logsumexp(dim=-1)
    return (every - near).mean()


def frame_contrastive_accuracy(logits: torch.Tensor, margin: int = 1) -> torch.Tensor:
    """Share of frames whose most similar other frame is one of their positives.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_frames, n_frames)
    margin : int, default=1

    Returns
    -------
    accuracy : Tensor of shape ()
        NaN for sequences of a single frame.
    """
    n_frames = logits.shape[-1]
    if n_frames < 2:
        return logits.new_tensor(float("nan"))
    positives, candidates = _frame_masks(n_frames, margin, logits.device)
    nearest = logits.masked_fill(~candidates, float("-inf")).argmax(dim=-1)  # (batch, n_frames)
    frames = torch.arange(n_frames, device=logits.device)
    return positives[frames, nearest].float().mean()


def pitch_shift_loss(
    shifted: torch.Tensor, original: torch.Tensor, semitones: torch.Tensor
) -> torch.Tensor:
    """Pitch-shift regression (Kuroyanagi & Komatsu, 2022, eq. 6).

    A pitch head scores every frame of a segment and of its pitch-shifted copy; the
    difference of the scores must equal the shift. Least squares, averaged over
    frames and clips.

    Parameters
    ----------
    shifted : Tensor of shape (batch, n_frames)
        Pitch-head output on the frames of the shifted segments.
    original : Tensor of shape (batch, n_frames)
        Pitch-head output on the frames of the original segments.
    semitones : Tensor of shape (batch,)
        Applied shifts, ``12 * log2(ratio)``.

    Returns
    -------
    loss : Tensor of shape ()
        Mean squared error, in squared semitones.
    """
    return (shifted - original - semitones[:, None]).square().mean()


class COLAOutput(NamedTuple):
    """What :class:`skaudio.models.COLAModel` returns in pretraining.

    Attributes
    ----------
    clip_logits : Tensor of shape (batch, batch)
        Anchors against positives; positives on the diagonal.
    frame_logits : Tensor of shape (n_views * batch, n_frames, n_frames) or None
        Frame-against-frame similarities within each view (multi-strategy only).
    pitch_shifted, pitch_original : Tensor of shape (batch, n_frames) or None
        Pitch-head outputs on the shifted anchors and on the anchors.
    semitones : Tensor of shape (batch,) or None
        The applied pitch shifts.
    """

    clip_logits: torch.Tensor
    frame_logits: torch.Tensor | None = None
    pitch_shifted: torch.Tensor | None = None
    pitch_original: torch.Tensor | None = None
    semitones: torch.Tensor | None = None


class COLACriterion(nn.Module):
    """skorch criterion of (multi-strategy) COLA: ``L_clip + a L_frame + b L_pitch``.

    ``L_clip`` is :func:`contrastive_cross_entropy`, ``L_frame``
    :func:`frame_contrastive_loss` and ``L_pitch`` :func:`pitch_shift_loss`; a term
    with weight 0 is not computed (the model does not produce it either). The target
    passed by skorch is ignored.

    Parameters
    ----------
    frame_weight : float, default=0.0
        ``a``, the weight of the frame-level loss.
    pitch_weight : float, default=0.0
        ``b``, the weight of the pitch-shift loss.
    frame_margin : int, default=1
        Largest distance, in encoder frames, of a frame-level positive.
    """

    def __init__(
        self, frame_weight: float = 0.0, pitch_weight: float = 0.0, frame_margin: int = 1
    ) -> None:
        super().__init__()
        self.frame_weight = frame_weight
        self.pitch_weight = pitch_weight
        self.frame_margin = frame_margin
        names = ["pretext_acc"]
        if frame_weight > 0:
            names += ["frame_loss", "frame_acc"]
        if pitch_weight > 0:
            names += ["pitch_loss"]
        self.metric_names = tuple(names)

    def forward(self, output: COLAOutput, target: torch.Tensor | None = None) -> torch.Tensor:
        loss = contrastive_cross_entropy(output.clip_logits)
        if self.frame_weight > 0:
            frame = frame_contrastive_loss(output.frame_logits, self.frame_margin)
            loss = loss + self.frame_weight * frame
        if self.pitch_weight > 0:
            pitch = pitch_shift_loss(output.pitch_shifted, output.pitch_original, output.semitones)
            loss = loss + self.pitch_weight * pitch
        return loss

    def metrics(self, output: COLAOutput) -> dict[str, float]:
        """Batch metrics: clip retrieval accuracy, and each auxiliary loss and accuracy."""
        with torch.no_grad():
            metrics = {"pretext_acc": contrastive_accuracy(output.clip_logits).item()}
            if self.frame_weight > 0:
                logits, margin = output.frame_logits, self.frame_margin
                metrics["frame_loss"] = frame_contrastive_loss(logits, margin).item()
                metrics["frame_acc"] = frame_contrastive_accuracy(logits, margin).item()
            if self.pitch_weight > 0:
                metrics["pitch_loss"] = pitch_shift_loss(
                    output.pitch_shifted, output.pitch_original, output.semitones
                ).item()
        return metrics
