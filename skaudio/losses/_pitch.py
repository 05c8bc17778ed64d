"""Relative-pitch regression (SPICE-style): multi-strategy COLA's pitch term, and the
pitch-equivariance term a two-view criterion can take.

A head scores the pitch of each frame of a clip and of a copy shifted by a known
number of semitones; the term is :func:`pitch_shift_loss` of the score difference
against the shift, one of the terms of :class:`~skaudio.losses.COLACriterion`, and
added to any two-view objective's loss by :class:`PitchEquivarianceCriterion`.
"""

from __future__ import annotations

import torch
from torch import nn

from .._torch_utils import fp32_island
from ..models.contrastive import PitchEquivarianceOutput

__all__ = ["PitchEquivarianceCriterion", "pitch_shift_loss"]


@fp32_island
def pitch_shift_loss(
    shifted: torch.Tensor, original: torch.Tensor, semitones: torch.Tensor
) -> torch.Tensor:
    r"""Pitch-shift regression of multi-strategy COLA.

    A pitch head :math:`g` scores every frame of a segment :math:`x_b` and of its
    copy :math:`\tilde x_b` shifted by :math:`\Delta_b` semitones; the difference of
    the scores must equal the shift (Kuroyanagi & Komatsu, 2022, eq. 6). Least
    squares, averaged over the :math:`T` frames and the :math:`B` clips:

    .. math::

        L = \frac{1}{B T} \sum_{b=1}^{B} \sum_{t=1}^{T}
            \big(g(\tilde x_b)_t - g(x_b)_t - \Delta_b\big)^2.

    Parameters
    ----------
    shifted : Tensor of shape (batch, n_frames)
        Pitch-head output on the frames of the shifted segments.
    original : Tensor of shape (batch, n_frames)
        Pitch-head output on the frames of the original segments.
    semitones : Tensor of shape (batch,)
        Applied shifts :math:`\Delta_b`, ``12 * log2(ratio)``.

    Returns
    -------
    loss : Tensor of shape ()
        Mean squared error, in squared semitones.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import pitch_shift_loss
    >>> _ = torch.manual_seed(0)
    >>> original, semitones = torch.randn(2, 5), torch.tensor([2.0, -1.0])
    >>> round(float(pitch_shift_loss(original + semitones[:, None], original, semitones)), 3)
    0.0
    >>> round(float(pitch_shift_loss(original, original, semitones)), 3)  # (4 + 1) / 2
    2.5
    """
    return (shifted - original - semitones[:, None]).square().mean()


def _pitch_error(output: PitchEquivarianceOutput) -> torch.Tensor:
    """Mean absolute error of the predicted relative pitch of every frame, in semitones."""
    shifted, original = output.pitch_shifted.float(), output.pitch_original.float()
    return (shifted - original - output.semitones.float()[:, None]).abs().mean()


class PitchEquivarianceCriterion(nn.Module):
    r"""A two-view criterion plus the pitch-shift regression of a pitch head.

    The loss of :class:`PitchEquivarianceOutput` ``output`` is

    .. math::

        L = L_{\text{views}} + w \, L_{\text{pitch}},

    with :math:`L_{\text{views}}` the wrapped ``criterion`` on ``output.views`` (any
    of :class:`NTXentCriterion`, :class:`BarlowTwinsCriterion`,
    :class:`VICRegCriterion`, :class:`BYOLCriterion`, supervised term included) and
    :math:`L_{\text{pitch}}` = :func:`pitch_shift_loss`: the mean squared error of the
    relative pitch :math:`g(\tilde x_b)_t - g(x_b)_t` of every frame :math:`t` of a
    view :math:`x_b` and of its copy :math:`\tilde x_b` shifted by :math:`\Delta_b`
    semitones, against :math:`\Delta_b`. Predicting the shift between two views
    instead of being invariant to it makes the features equivariant to pitch
    (SPICE, Gfeller et al., 2020; PESTO, Riou et al., 2023). The pitch term is a
    mean of per-frame terms: in multi-process training each process's mean is
    averaged by DDP, nothing is gathered.

    Parameters
    ----------
    criterion : nn.Module
        The objective's criterion, taking ``output.views``; its ``metrics`` are logged
        as before.
    pitch_weight : float
        :math:`w`, positive.

    Attributes
    ----------
    metric_names : tuple of str
        Those of ``criterion``, then ``"pitch_error"``: the mean absolute error of the
        predicted relative pitch of the frames, in semitones, logged as
        ``train_pitch_error`` by :class:`skaudio.training.SelfSupervisedNet` (about
        ``s / 2`` for shifts uniform in ``[-s, s]`` and a head that predicts none).

    Raises
    ------
    ValueError
        If ``pitch_weight`` is not positive.

    See Also
    --------
    pitch_shift_loss

    References
    ----------
    B. Gfeller, C. Frank, D. Roblek, M. Sharifi, M. Tagliasacchi, M. Velimirovic.
    "SPICE: self-supervised pitch estimation." IEEE/ACM TASLP 2020. A. Riou, S.
    Lattner, G. Hadjeres, G. Peeters. "PESTO: pitch estimation with self-supervised
    transposition-equivariant objective." ISMIR 2023.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import (
    ...     NTXentCriterion, PitchEquivarianceCriterion, PitchEquivarianceOutput)
    >>> _ = torch.manual_seed(0)
    >>> z1 = torch.randn(4, 8)
    >>> views = (z1, z1 + 0.1 * torch.randn(4, 8), None)
    >>> original = torch.zeros(4, 3)  # (batch, n_frames): a head that sees no pitch
    >>> semitones = torch.tensor([2.0, -1.0, 0.5, 3.0])
    >>> output = PitchEquivarianceOutput(views, original, original, semitones)
    >>> criterion = PitchEquivarianceCriterion(NTXentCriterion(0.5), pitch_weight=0.1)
    >>> nt_xent = NTXentCriterion(0.5)(views, None)
    >>> round(float(criterion(output) - nt_xent), 3)  # 0.1 * (4 + 1 + 0.25 + 9) / 4
    0.356
    >>> criterion.metric_names, criterion.metrics(output)  # (2 + 1 + 0.5 + 3) / 4
    (('pretext_acc', 'pitch_error'), {'pretext_acc': tensor(1.), 'pitch_error': tensor(1.6250)})
    """

    def __init__(self, criterion: nn.Module, pitch_weight: float) -> None:
        super().__init__()
        if not pitch_weight > 0:
            raise ValueError(f"pitch_weight must be positive, got {pitch_weight}")
        self.criterion = criterion
        self.pitch_weight = float(pitch_weight)
        self.metric_names = (*getattr(criterion, "metric_names", ()), "pitch_error")

    @fp32_island
    def forward(
        self, y_pred: PitchEquivarianceOutput, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss of a batch.

        Parameters
        ----------
        y_pred : PitchEquivarianceOutput
            The objective's output and the pitch scores.
        target : Tensor of shape (batch,) or None, default=None
            Class code of each clip, ``-1`` when unlabelled; passed to ``criterion``.

        Returns
        -------
        loss : Tensor of shape (), float32
        """
        pitch = pitch_shift_loss(
            y_pred.pitch_shifted.float(), y_pred.pitch_original.float(), y_pred.semitones.float()
        )
        return self.criterion(y_pred.views, target) + self.pitch_weight * pitch

    @fp32_island
    def metrics(self, y_pred: PitchEquivarianceOutput) -> dict[str, torch.Tensor]:
        """Batch metrics: the wrapped criterion's, and the pitch error in semitones.

        Detached 0-d tensors on the device of the batch, read back to the host once
        per epoch by :class:`skaudio.training.SelfSupervisedNet`.
        """
        inner = getattr(self.criterion, "metrics", None)
        metrics = dict(inner(y_pred.views)) if inner is not None else {}
        with torch.no_grad():
            metrics["pitch_error"] = _pitch_error(y_pred)
        return metrics
