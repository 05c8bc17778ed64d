"""Non-contrastive two-view objectives: BYOL, Barlow Twins and VICReg.

Each takes the two views' outputs of a batch, ``z1`` and ``z2`` of shape
(batch, dim), and needs no negatives. They are pure functions of tensors; computed
in float32 whatever the inputs' dtype (their sums of squares overflow or round badly
in half precision). :class:`BarlowTwinsCriterion` and :class:`VICRegCriterion` wrap
the last two as skorch criteria of the two-view model,
:class:`skaudio.models.ContrastiveModel`; :class:`BYOLCriterion` wraps BYOL's loss on
the output (:class:`BYOLOutput`) of its model with a target network,
:class:`skaudio.models.BYOLModel`. :class:`PitchEquivarianceCriterion` adds a
pitch-shift regression (SPICE-style relative pitch) to any of these criteria, or to
:class:`NTXentCriterion`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._collectives import gather, gather_with_grad
from .._torch_utils import fp32_island
from ..models.contrastive import BYOLOutput
from ._supervised import _add_supervised

__all__ = [
    "BYOLCriterion",
    "BarlowTwinsCriterion",
    "VICRegCriterion",
    "barlow_twins_loss",
    "byol_loss",
    "cross_correlation",
    "vicreg_loss",
]


@fp32_island
def byol_loss(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""BYOL's regression loss between online predictions and target projections.

    With :math:`q` the online network's prediction of one view and :math:`z'` the
    target network's projection of the other (Grill et al., 2020, eq. 2),

    .. math::

        L = \frac{1}{n} \sum_{i=1}^{n}
            \left\lVert \frac{q_i}{\lVert q_i \rVert}
            - \frac{z'_i}{\lVert z'_i \rVert} \right\rVert_2^2
          = \frac{1}{n} \sum_{i=1}^{n} \left(2 - 2 \cos(q_i, z'_i)\right).

    No gradient flows into ``targets`` (they are detached here). The symmetric loss
    of the paper is ``byol_loss(q1, z2') + byol_loss(q2, z1')``.

    Parameters
    ----------
    predictions : Tensor of shape (batch, dim)
        Online predictions :math:`q`.
    targets : Tensor of shape (batch, dim)
        Target projections :math:`z'` of the other view.

    Returns
    -------
    loss : Tensor of shape ()
        Between 0 (same directions) and 4 (opposite directions).

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import byol_loss
    >>> q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    >>> float(byol_loss(q, 3 * q)), float(byol_loss(q, -q))
    (0.0, 4.0)
    """
    q = F.normalize(predictions.float(), dim=-1)
    z = F.normalize(targets.detach().float(), dim=-1)
    return (2 - 2 * (q * z).sum(dim=-1)).mean()


@fp32_island
def cross_correlation(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    r"""Cross-correlation matrix of two views' embeddings over the batch.

    Each dimension is standardised over the batch (mean 0, population variance 1,
    with ``eps`` added to the variance), then

    .. math::

        C_{ij} = \frac{1}{n} \sum_{b=1}^{n} \hat z^{(1)}_{b,i} \, \hat z^{(2)}_{b,j}.

    Parameters
    ----------
    z1, z2 : Tensor of shape (batch, dim)
    eps : float, default=1e-5

    Returns
    -------
    c : Tensor of shape (dim, dim), float32
        Entries in [-1, 1] (up to ``eps``); the identity for perfectly correlated,
        mutually decorrelated dimensions.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import cross_correlation
    >>> _ = torch.manual_seed(0)
    >>> z = torch.randn(256, 3)
    >>> torch.diagonal(cross_correlation(z, z)).round(decimals=3).tolist()
    [1.0, 1.0, 1.0]
    """
    z1, z2 = z1.float(), z2.float()
    z1 = (z1 - z1.mean(0)) / torch.sqrt(z1.var(0, unbiased=False) + eps)
    z2 = (z2 - z2.mean(0)) / torch.sqrt(z2.var(0, unbiased=False) + eps)
    return z1.T @ z2 / z1.shape[0]


@fp32_island
def barlow_twins_loss(
    z1: torch.Tensor, z2: torch.Tensor, *, off_diagonal_weight: float = 5e-3
) -> torch.Tensor:
    r"""Barlow Twins: make the views' cross-correlation matrix the identity.

    With :math:`C` the :func:`cross_correlation` of the two views (Zbontar et al.,
    2021, eq. 1),

    .. math::

        L = \sum_i (1 - C_{ii})^2 + \lambda \sum_i \sum_{j \ne i} C_{ij}^2,

    the first term making each dimension invariant to the augmentations, the second
    (weight :math:`\lambda`, ``off_diagonal_weight``) decorrelating the dimensions.

    Parameters
    ----------
    z1, z2 : Tensor of shape (batch, dim)
        Projections of the two views; the batch should be at least a few clips
        (the statistics are over the batch).
    off_diagonal_weight : float, default=5e-3
        :math:`\lambda` (the paper's value for 8192-d projections; it scales
        roughly as 1 / dim).

    Returns
    -------
    loss : Tensor of shape ()

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import barlow_twins_loss
    >>> _ = torch.manual_seed(0)
    >>> z = torch.randn(512, 4)
    >>> bool(barlow_twins_loss(z, z) < 0.01), bool(barlow_twins_loss(z, torch.randn(512, 4)) > 3)
    (True, True)
    """
    c = cross_correlation(z1, z2)
    on_diagonal = (torch.diagonal(c) - 1).pow(2).sum()
    off_diagonal = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on_diagonal + off_diagonal_weight * off_diagonal


def _vicreg_variance(z: torch.Tensor, eps: float) -> torch.Tensor:
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(1.0 - std).mean()


def _vicreg_covariance(z: torch.Tensor) -> torch.Tensor:
    n, dim = z.shape
    centred = z - z.mean(dim=0)
    cov = centred.T @ centred / (n - 1)
    return (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / dim


@fp32_island
def vicreg_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    invariance_weight: float = 25.0,
    variance_weight: float = 25.0,
    covariance_weight: float = 1.0,
    eps: float = 1e-4,
) -> torch.Tensor:
    r"""VICReg: invariance, variance and covariance terms (Bardes, Ponce & LeCun, 2022).

    .. math::

        L = \lambda \, \frac{1}{n} \sum_b \lVert z^{(1)}_b - z^{(2)}_b \rVert^2 / d
          + \mu \, [v(Z^{(1)}) + v(Z^{(2)})]
          + \nu \, [c(Z^{(1)}) + c(Z^{(2)})],

    with :math:`v(Z) = \frac{1}{d} \sum_j \max(0, 1 - \sqrt{\mathrm{Var}(z_{:,j}) +
    \epsilon})` (unbiased variance over the batch) keeping every dimension's standard
    deviation at 1 or more, and :math:`c(Z) = \frac{1}{d} \sum_{i \ne j}
    \mathrm{Cov}(Z)_{ij}^2` decorrelating dimensions. The first term is the mean
    squared error, as ``F.mse_loss`` computes it.

    Parameters
    ----------
    z1, z2 : Tensor of shape (batch, dim)
        Expander outputs of the two views; batch at least 2.
    invariance_weight, variance_weight, covariance_weight : float
        :math:`\lambda, \mu, \nu`; the paper's defaults 25, 25, 1.
    eps : float, default=1e-4

    Returns
    -------
    loss : Tensor of shape ()

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import vicreg_loss
    >>> _ = torch.manual_seed(0)
    >>> z = 2 * torch.randn(512, 4)  # std above 1, nearly uncorrelated
    >>> bool(vicreg_loss(z, z) < 0.5), bool(vicreg_loss(torch.zeros(8, 4), torch.zeros(8, 4)) > 40)
    (True, True)
    """
    if z1.shape[0] < 2:
        raise ValueError(f"vicreg_loss needs a batch of at least 2, got {z1.shape[0]}")
    z1, z2 = z1.float(), z2.float()
    invariance = F.mse_loss(z1, z2)
    variance = _vicreg_variance(z1, eps) + _vicreg_variance(z2, eps)
    covariance = _vicreg_covariance(z1) + _vicreg_covariance(z2)
    return (
        invariance_weight * invariance + variance_weight * variance + covariance_weight * covariance
    )


class _TwoViewCriterion(nn.Module):
    """What the non-contrastive criteria share: gathering, tiny batches, supervision.

    Subclasses set ``supervised_weight`` and implement ``_loss(z1, z2)`` on the
    gathered (global) batch of at least 2 clips.
    """

    supervised_weight: float = 0.0
    #: the default of criteria pickled before the flag existed (they gathered)
    gather_distributed: bool = True

    def _gathered(self, z1: torch.Tensor, z2: torch.Tensor, with_grad: bool = True):
        """Both views of the global batch when ``gather_distributed``, else as they are."""
        if not self.gather_distributed:
            return z1, z2
        collective = gather_with_grad if with_grad else gather
        return collective(z1), collective(z2)

    def _loss(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @fp32_island
    def forward(self, y_pred, target: torch.Tensor | None = None) -> torch.Tensor:
        """Loss of a batch.

        Parameters
        ----------
        y_pred : tuple of (Tensor, Tensor, Tensor or None)
            ``z1`` and ``z2`` of shape (batch, dim), and class logits of shape
            (2 * batch, n_classes) or None.
        target : Tensor of shape (batch,) or None, default=None
            Class code of each clip, ``-1`` when unlabelled; used only by the
            supervised term.

        Returns
        -------
        loss : Tensor of shape (), float32
        """
        z1, z2, class_logits = y_pred
        z1, z2 = self._gathered(z1, z2)
        if z1.shape[0] < 2:  # no batch statistics: 0, keeping the graph (zero gradients)
            loss = 0.0 * (z1.float().sum() + z2.float().sum())
        else:
            loss = self._loss(z1, z2)
        return _add_supervised(
            loss, class_logits, target, self.supervised_weight, self.gather_distributed
        )


class BarlowTwinsCriterion(_TwoViewCriterion):
    r"""skorch criterion of Barlow Twins on the two views, plus an optional supervised term.

    The model's output is ``(z1, z2, class_logits)``, as returned by
    :class:`skaudio.models.ContrastiveModel`; the loss is :func:`barlow_twins_loss` of
    ``z1`` and ``z2`` (Zbontar et al., 2021). With ``class_logits`` given and
    ``supervised_weight > 0``, the cross-entropy of both views of the labelled clips
    (target ``>= 0``; ``-1`` marks unlabelled clips) is added with weight
    ``supervised_weight``, exactly as in :class:`NTXentCriterion`.

    The cross-correlation is a statistic of the batch: with ``gather_distributed``,
    in multi-process training ``z1`` and ``z2`` of all processes are gathered first
    (:func:`skaudio.distributed.gather_with_grad`), so it is that of the global batch
    and the loss is the same in every process. A global batch of a single clip has
    no correlation to measure: its loss is 0 (no gradient) instead of the constant
    ``dim``.

    Parameters
    ----------
    off_diagonal_weight : float, default=5e-3
        :math:`\lambda`, the weight of the off-diagonal (redundancy) term.
    supervised_weight : float, default=0.0
        Weight of the supervised cross-entropy; 0 trains without labels.
    gather_distributed : bool, default=True
        Whether the batch statistics and the supervised mean are over the batches of
        all processes of a distributed run (the estimators pass their
        ``distributed``); the identity in a single process.

    Attributes
    ----------
    metric_names : tuple of str
        ``("diagonal_corr",)``: the mean over dimensions of the diagonal of the
        views' cross-correlation matrix (1 when every dimension is invariant to the
        augmentations), logged as ``train_diagonal_corr`` by
        :class:`skaudio.training.SelfSupervisedNet`.

    See Also
    --------
    barlow_twins_loss, cross_correlation

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import BarlowTwinsCriterion, barlow_twins_loss
    >>> _ = torch.manual_seed(0)
    >>> z1 = torch.randn(64, 8)  # (batch, dim)
    >>> z2 = z1 + 0.1 * torch.randn(64, 8)
    >>> criterion = BarlowTwinsCriterion(off_diagonal_weight=0.1)
    >>> loss = criterion((z1, z2, None), torch.full((64,), -1))
    >>> loss.shape, bool(loss == barlow_twins_loss(z1, z2, off_diagonal_weight=0.1))
    (torch.Size([]), True)
    >>> round(float(criterion.metrics((z1, z2, None))["diagonal_corr"]), 2)
    0.99
    """

    metric_names = ("diagonal_corr",)

    def __init__(
        self,
        off_diagonal_weight: float = 5e-3,
        supervised_weight: float = 0.0,
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        self.off_diagonal_weight = off_diagonal_weight
        self.supervised_weight = supervised_weight
        self.gather_distributed = gather_distributed

    def _loss(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return barlow_twins_loss(z1, z2, off_diagonal_weight=self.off_diagonal_weight)

    @fp32_island
    def metrics(self, y_pred) -> dict[str, torch.Tensor]:
        """Batch metrics to log: mean on-diagonal cross-correlation of the views.

        Detached 0-d tensors on the device of the batch, read back to the host once
        per epoch by :class:`skaudio.training.SelfSupervisedNet`.
        """
        z1, z2, _ = y_pred
        with torch.no_grad():
            c = cross_correlation(*self._gathered(z1, z2, with_grad=False))
        return {"diagonal_corr": torch.diagonal(c).mean()}


class VICRegCriterion(_TwoViewCriterion):
    r"""skorch criterion of VICReg on the two views, plus an optional supervised term.

    The model's output is ``(z1, z2, class_logits)``, as returned by
    :class:`skaudio.models.ContrastiveModel`; the loss is :func:`vicreg_loss` of
    ``z1`` and ``z2`` (Bardes, Ponce & LeCun, 2022). With ``class_logits`` given and
    ``supervised_weight > 0``, the cross-entropy of both views of the labelled clips
    (target ``>= 0``; ``-1`` marks unlabelled clips) is added with weight
    ``supervised_weight``, exactly as in :class:`NTXentCriterion`.

    The variance and covariance terms are statistics of the batch: with
    ``gather_distributed``, in multi-process training ``z1`` and ``z2`` of all
    processes are gathered first
    (:func:`skaudio.distributed.gather_with_grad`), so they are those of the global
    batch and the loss is the same in every process. A global batch of a single clip
    has no variance to measure (:func:`vicreg_loss` refuses it): its loss is 0 (no
    gradient), so a last batch of one clip does not stop training.

    Parameters
    ----------
    invariance_weight : float, default=25.0
        :math:`\lambda`, weight of the mean squared error between the views.
    variance_weight : float, default=25.0
        :math:`\mu`, weight of the hinge keeping each dimension's std at 1 or more.
    covariance_weight : float, default=1.0
        :math:`\nu`, weight of the off-diagonal covariance (decorrelation) term.
    eps : float, default=1e-4
        Added to the variance under the square root.
    supervised_weight : float, default=0.0
        Weight of the supervised cross-entropy; 0 trains without labels.
    gather_distributed : bool, default=True
        Whether the batch statistics and the supervised mean are over the batches of
        all processes of a distributed run (the estimators pass their
        ``distributed``); the identity in a single process.

    Attributes
    ----------
    metric_names : tuple of str
        ``("embedding_std",)``: the standard deviation over the batch of each
        dimension of ``z1`` and ``z2`` (unbiased; 0 for a single clip), averaged over
        dimensions and both views, logged as ``train_embedding_std`` by
        :class:`skaudio.training.SelfSupervisedNet`; values near 0 mean collapse.

    See Also
    --------
    vicreg_loss

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import VICRegCriterion, vicreg_loss
    >>> _ = torch.manual_seed(0)
    >>> z1 = 2 * torch.randn(64, 8)  # (batch, dim)
    >>> z2 = z1 + 0.1 * torch.randn(64, 8)
    >>> criterion = VICRegCriterion()
    >>> loss = criterion((z1, z2, None), torch.full((64,), -1))
    >>> loss.shape, bool(loss == vicreg_loss(z1, z2))
    (torch.Size([]), True)
    >>> round(float(criterion.metrics((z1, z2, None))["embedding_std"]), 1)
    2.0
    """

    metric_names = ("embedding_std",)

    def __init__(
        self,
        invariance_weight: float = 25.0,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        eps: float = 1e-4,
        supervised_weight: float = 0.0,
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        self.invariance_weight = invariance_weight
        self.variance_weight = variance_weight
        self.covariance_weight = covariance_weight
        self.eps = eps
        self.supervised_weight = supervised_weight
        self.gather_distributed = gather_distributed

    def _loss(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return vicreg_loss(
            z1,
            z2,
            invariance_weight=self.invariance_weight,
            variance_weight=self.variance_weight,
            covariance_weight=self.covariance_weight,
            eps=self.eps,
        )

    @fp32_island
    def metrics(self, y_pred) -> dict[str, torch.Tensor]:
        """Batch metrics to log: mean per-dimension standard deviation of the views.

        Detached 0-d tensors on the device of the batch, read back to the host once
        per epoch by :class:`skaudio.training.SelfSupervisedNet`.
        """
        z1, z2, _ = y_pred
        z = torch.cat(self._gathered(z1, z2, with_grad=False), dim=1).detach().float()
        if z.shape[0] < 2:
            return {"embedding_std": z.new_zeros(())}
        return {"embedding_std": z.std(dim=0).mean()}


def _normalized_std(z: torch.Tensor) -> torch.Tensor:
    """SimSiam's collapse indicator: the per-dimension std of the l2-normalised rows
    times sqrt(dim), averaged over dimensions: about 1 for spread-out rows, 0 when collapsed."""
    z = F.normalize(z.detach().float(), dim=-1)
    if z.shape[0] < 2:
        return z.new_zeros(())
    return z.std(dim=0).mean() * math.sqrt(z.shape[1])


class BYOLCriterion(nn.Module):
    r"""skorch criterion of BYOL's symmetrised loss, plus an optional supervised term.

    The model's output is a :class:`BYOLOutput`, as returned by
    :class:`skaudio.models.BYOLModel`: the online predictions :math:`q_1, q_2` of
    the two views and the target projections :math:`z'_1, z'_2`. The loss is
    (Grill et al., 2020, eq. 2 and its symmetrisation)

    .. math::

        L = \text{byol\_loss}(q_1, \mathrm{sg}(z'_2))
          + \text{byol\_loss}(q_2, \mathrm{sg}(z'_1)),

    each term being the batch mean of :math:`2 - 2 \cos` (:func:`byol_loss`), so
    :math:`L` lies in [0, 8]: the sum of the two directions, as in the paper and in
    BYOL-A's code, not their mean. With ``class_logits`` given and
    ``supervised_weight > 0``, the cross-entropy of both views of the labelled clips
    (target ``>= 0``; ``-1`` marks unlabelled clips) is added with weight
    ``supervised_weight``, exactly as in :class:`NTXentCriterion`.

    Unlike :class:`BarlowTwinsCriterion` and :class:`VICRegCriterion` (the pattern of
    the other two-view criteria), the loss is a mean of per-clip terms, not a
    statistic of the batch: nothing is gathered in multi-process training (DDP's
    averaging of the gradients makes each process's local mean the global one), and
    a batch of a single clip is an ordinary batch.

    Parameters
    ----------
    supervised_weight : float, default=0.0
        Weight of the supervised cross-entropy; 0 trains without labels.
    gather_distributed : bool, default=True
        Whether the supervised mean and the ``target_std`` metric are over the
        batches of all processes of a distributed run (the estimators pass their
        ``distributed``); the identity in a single process.

    Attributes
    ----------
    metric_names : tuple of str
        ``("target_cosine", "target_std")``, logged as ``train_target_cosine`` and
        ``train_target_std`` by :class:`skaudio.training.SelfSupervisedNet`: the mean
        cosine similarity of each prediction with the target projection of the other
        view (1 when the online network predicts the target perfectly, which a
        collapsed network also does), and the per-dimension standard deviation over
        the batch of the l2-normalised target projections times
        :math:`\sqrt{\text{dim}}` (SimSiam's collapse indicator: about 1 when the
        projections are spread out, 0 when they collapse to one point).

    See Also
    --------
    byol_loss, skaudio.models.byol_momentum

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import BYOLCriterion, byol_loss
    >>> from skaudio.models import BYOLOutput
    >>> _ = torch.manual_seed(0)
    >>> q1, q2, t1, t2 = torch.randn(4, 16, 8)  # (batch, dim) each
    >>> output = BYOLOutput(q1, q2, None, t1, t2)
    >>> loss = BYOLCriterion()(output, torch.full((16,), -1))
    >>> bool(loss == byol_loss(q1, t2) + byol_loss(q2, t1))
    True
    >>> sorted(BYOLCriterion().metrics(output))
    ['target_cosine', 'target_std']
    """

    metric_names = ("target_cosine", "target_std")

    #: the default of criteria pickled before the flag existed (they gathered)
    gather_distributed = True

    def __init__(self, supervised_weight: float = 0.0, gather_distributed: bool = True) -> None:
        super().__init__()
        self.supervised_weight = supervised_weight
        self.gather_distributed = gather_distributed

    @fp32_island
    def forward(self, y_pred: BYOLOutput, target: torch.Tensor | None = None) -> torch.Tensor:
        """Loss of a batch.

        Parameters
        ----------
        y_pred : BYOLOutput
            Predictions and target projections of both views, and class logits.
        target : Tensor of shape (batch,) or None, default=None
            Class code of each clip, ``-1`` when unlabelled; used only by the
            supervised term.

        Returns
        -------
        loss : Tensor of shape (), float32
        """
        q1, q2, class_logits, t1, t2 = y_pred
        loss = byol_loss(q1, t2) + byol_loss(q2, t1)
        return _add_supervised(
            loss, class_logits, target, self.supervised_weight, self.gather_distributed
        )

    @fp32_island
    def metrics(self, y_pred: BYOLOutput) -> dict[str, torch.Tensor]:
        """Batch metrics to log: prediction-target cosine, spread of the targets.

        Detached 0-d tensors on the device of the batch, read back to the host once
        per epoch by :class:`skaudio.training.SelfSupervisedNet`.
        """
        q1, q2, _, t1, t2 = y_pred
        with torch.no_grad():
            cosine = (4 - byol_loss(q1, t2) - byol_loss(q2, t1)) / 4
            if self.gather_distributed:
                t1, t2 = gather(t1), gather(t2)
            spread = _normalized_std(torch.cat([t1, t2]))
        return {"target_cosine": cosine, "target_std": spread}
