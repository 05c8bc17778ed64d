"""COLA's criterion (Saeed, Grangier & Zeghidour, 2021), with the frame-level and
pitch-shift terms of multi-strategy COLA (Kuroyanagi & Komatsu, 2022)."""

from __future__ import annotations

import torch
from torch import nn

from .._collectives import gather_with_grad, is_distributed
from .._torch_utils import fp32_island
from ..models.cola import COLAOutput
from ._infonce import contrastive_accuracy, contrastive_cross_entropy
from ._pitch import pitch_shift_loss

__all__ = ["COLACriterion", "frame_contrastive_accuracy", "frame_contrastive_loss"]


def _frame_masks(n_frames: int, margin: int, device: torch.device):
    """(positives, candidates) boolean masks of shape (n_frames, n_frames)."""
    steps = torch.arange(n_frames, device=device)
    distance = (steps[:, None] - steps[None]).abs()
    return (distance > 0) & (distance <= margin), distance > 0


@fp32_island
def frame_contrastive_loss(logits: torch.Tensor, margin: int = 1) -> torch.Tensor:
    r"""Frame-level contrastive loss of multi-strategy COLA.

    Within each sequence, the frames at most ``margin`` steps away from frame
    :math:`t` are its positives and all the other frames its negatives (:math:`t`
    itself is never a candidate). With :math:`s_{btu}` the similarity of frames
    :math:`t` and :math:`u` of sequence :math:`b`, :math:`m` the margin and
    :math:`T` the number of frames (Kuroyanagi & Komatsu, 2022, eq. 3-5),

    .. math::

        L = -\frac{1}{B T} \sum_{b=1}^{B} \sum_{t=1}^{T} \log
            \frac{\sum_{0 < |u - t| \leq m} \exp s_{btu}}
                 {\sum_{u \neq t} \exp s_{btu}}.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_frames, n_frames)
        Similarity of every frame to every frame of the same sequence.
    margin : int, default=1
        Largest distance :math:`m`, in frames, of a positive.

    Returns
    -------
    loss : Tensor of shape ()
        Zero (still attached to the graph) for sequences of a single frame, which
        have no candidates.

    See Also
    --------
    frame_contrastive_accuracy : How often the nearest frame is a positive.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import frame_contrastive_loss
    >>> steps = torch.arange(6.0)
    >>> logits = -5 * (steps[:, None] - steps).abs().expand(2, 6, 6)  # near frames alike
    >>> round(float(frame_contrastive_loss(logits)), 3)
    0.006
    >>> round(float(frame_contrastive_loss(torch.zeros(2, 6, 6))), 3)  # uninformative
    1.147
    """
    n_frames = logits.shape[-1]
    if n_frames < 2:
        return logits.sum() * 0.0
    positives, candidates = _frame_masks(n_frames, margin, logits.device)
    every = logits.masked_fill(~candidates, float("-inf")).logsumexp(dim=-1)
    near = logits.masked_fill(~positives, float("-inf")).logsumexp(dim=-1)
    return (every - near).mean()


@fp32_island
def frame_contrastive_accuracy(logits: torch.Tensor, margin: int = 1) -> torch.Tensor:
    """Share of frames whose most similar other frame is one of their positives.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_frames, n_frames)
        Similarity of every frame to every frame of the same sequence.
    margin : int, default=1
        Largest distance, in frames, of a positive.

    Returns
    -------
    accuracy : Tensor of shape ()
        Between 0 and 1, over all frames of all sequences; NaN for sequences of a
        single frame.

    See Also
    --------
    frame_contrastive_loss : The loss this accuracy monitors.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import frame_contrastive_accuracy
    >>> steps = torch.arange(6.0)
    >>> logits = -5 * (steps[:, None] - steps).abs().expand(2, 6, 6)  # near frames alike
    >>> round(float(frame_contrastive_accuracy(logits)), 3)
    1.0
    >>> round(float(frame_contrastive_accuracy(-logits)), 3)  # far frames alike
    0.0
    """
    n_frames = logits.shape[-1]
    if n_frames < 2:
        return logits.new_tensor(float("nan"))
    positives, candidates = _frame_masks(n_frames, margin, logits.device)
    nearest = logits.masked_fill(~candidates, float("-inf")).argmax(dim=-1)  # (batch, n_frames)
    frames = torch.arange(n_frames, device=logits.device)
    return positives[frames, nearest].float().mean()


class COLACriterion(nn.Module):
    """skorch criterion of (multi-strategy) COLA: ``L_clip + a L_frame + b L_pitch``.

    ``L_clip`` is :func:`contrastive_cross_entropy` of the clip logits
    (:meth:`clip_logits`), ``L_frame`` :func:`frame_contrastive_loss` and ``L_pitch``
    :func:`pitch_shift_loss`; a term with weight 0 is not computed (the model does not
    produce it either). The target passed by skorch is ignored.

    With ``gather_distributed``, in multi-process training the projected anchors and
    positives of all processes are gathered first
    (:func:`skaudio.distributed.gather_with_grad`) and scored by the model's
    similarity, so the negatives are those of the global batch and ``L_clip`` is the
    same in every process; the frame and pitch terms stay local (means over each
    process's batch, which DDP's averaging makes global). In a single process the
    model's ``clip_logits`` are used as they are.

    Parameters
    ----------
    frame_weight : float, default=0.0
        ``a``, the weight of the frame-level loss.
    pitch_weight : float, default=0.0
        ``b``, the weight of the pitch-shift loss.
    frame_margin : int, default=1
        Largest distance, in encoder frames, of a frame-level positive.
    gather_distributed : bool, default=True
        Whether ``L_clip`` is over the batches of all processes of a distributed run
        (the estimator passes its ``distributed``); needs the output's ``anchors``,
        ``positives`` and ``similarity`` (as :class:`skaudio.models.COLAModel` returns
        them), else its ``clip_logits`` are used as they are.

    Attributes
    ----------
    metric_names : tuple of str
        Names of the batch metrics of :meth:`metrics`: ``"pretext_acc"`` (clip
        retrieval accuracy), then ``"frame_loss"`` and ``"frame_acc"`` with the frame
        strategy, and ``"pitch_loss"`` with the pitch strategy.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import COLACriterion
    >>> from skaudio.models import COLAOutput
    >>> steps = torch.arange(6.0)
    >>> frame_logits = -5 * (steps[:, None] - steps).abs().expand(8, 6, 6)
    >>> output = COLAOutput(10 * torch.eye(4), frame_logits=frame_logits)
    >>> criterion = COLACriterion(frame_weight=0.5)
    >>> round(float(criterion(output)), 3), criterion.metric_names
    (0.003, ('pretext_acc', 'frame_loss', 'frame_acc'))
    """

    #: the default of criteria pickled before the flag existed (they gathered)
    gather_distributed = True

    def __init__(
        self,
        frame_weight: float = 0.0,
        pitch_weight: float = 0.0,
        frame_margin: int = 1,
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        self.frame_weight = frame_weight
        self.pitch_weight = pitch_weight
        self.frame_margin = frame_margin
        self.gather_distributed = gather_distributed
        names = ["pretext_acc"]
        if frame_weight > 0:
            names += ["frame_loss", "frame_acc"]
        if pitch_weight > 0:
            names += ["pitch_loss"]
        self.metric_names = tuple(names)
        self._last_terms = None  # (id of the last forward's output, its detached terms)

    def forward(self, output: COLAOutput, target: torch.Tensor | None = None) -> torch.Tensor:
        loss, terms = self._losses(output)
        # the auxiliary losses of this output, for metrics() not to compute them again
        self._last_terms = (id(output), terms)
        return loss

    def clip_logits(self, output: COLAOutput) -> torch.Tensor:
        """The logits of ``L_clip``: anchors (rows) against positives, positives on the diagonal.

        Parameters
        ----------
        output : COLAOutput

        Returns
        -------
        logits : Tensor of shape (world * batch, world * batch)
            With ``gather_distributed`` in a run of ``world`` processes, the model's
            similarity of every anchor of the global batch to every positive of the
            global batch (a collective: every process must call it), identical in
            every process; otherwise (``world`` is 1) ``output.clip_logits``.
        """
        if self.gather_distributed and is_distributed() and output.anchors is not None:
            anchors = gather_with_grad(output.anchors)
            return output.similarity(anchors, gather_with_grad(output.positives))
        return output.clip_logits

    @fp32_island
    def _losses(self, output: COLAOutput) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss, and each auxiliary loss and the clip logits, detached."""
        logits = self.clip_logits(output)
        loss = contrastive_cross_entropy(logits)
        terms = {"clip_logits": logits.detach()}
        if self.frame_weight > 0:
            frame = frame_contrastive_loss(output.frame_logits, self.frame_margin)
            loss = loss + self.frame_weight * frame
            terms["frame_loss"] = frame.detach()
        if self.pitch_weight > 0:
            pitch = pitch_shift_loss(output.pitch_shifted, output.pitch_original, output.semitones)
            loss = loss + self.pitch_weight * pitch
            terms["pitch_loss"] = pitch.detach()
        return loss, terms

    def metrics(self, output: COLAOutput) -> dict[str, torch.Tensor]:
        """Batch metrics: clip retrieval accuracy, and each auxiliary loss and accuracy.

        Detached 0-d tensors on the device of the batch, read back to the host once
        per epoch by :class:`skaudio.training.SelfSupervisedNet`. The auxiliary losses
        are those :meth:`forward` computed if it last ran on this very ``output`` (as
        in a training step), otherwise computed again.
        """
        seen, terms = getattr(self, "_last_terms", None) or (None, {})
        self._last_terms = None
        return self._metrics(output, terms if seen == id(output) else {})

    @fp32_island
    def _metrics(self, output: COLAOutput, terms: dict) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            logits = terms.get("clip_logits")
            if logits is None:
                logits = self.clip_logits(output)
            metrics = {"pretext_acc": contrastive_accuracy(logits)}
            if self.frame_weight > 0:
                logits, margin = output.frame_logits, self.frame_margin
                frame = terms.get("frame_loss")
                metrics["frame_loss"] = (
                    frame_contrastive_loss(logits, margin) if frame is None else frame
                )
                metrics["frame_acc"] = frame_contrastive_accuracy(logits, margin)
            if self.pitch_weight > 0:
                pitch = terms.get("pitch_loss")
                if pitch is None:
                    pitch = pitch_shift_loss(
                        output.pitch_shifted, output.pitch_original, output.semitones
                    )
                metrics["pitch_loss"] = pitch
        return metrics
