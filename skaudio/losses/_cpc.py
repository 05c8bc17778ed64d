"""Contrastive predictive coding (van den Oord et al., 2018): InfoNCE over future steps."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .._torch_utils import DeviceGenerator, fp32_island

__all__ = ["CPCCriterion", "CPCOutput", "cpc_infonce", "cpc_step_weights"]


def cpc_step_weights(n_predict: int, scheme: str = "uniform") -> torch.Tensor:
    """Weights of the prediction steps ``k = 1..n_predict``, summing to one.

    ``"uniform"`` weighs every step alike; ``"linear"`` weighs step ``k`` by
    ``n_predict - k + 1`` (the near future counts most).

    Parameters
    ----------
    n_predict : int
        Number of future steps predicted.
    scheme : {"uniform", "linear"}, default="uniform"
        How the weight varies with the step.

    Returns
    -------
    weights : Tensor of shape (n_predict,), dtype float32
        Non-negative weights summing to one.

    Raises
    ------
    ValueError
        If ``scheme`` is neither ``"uniform"`` nor ``"linear"``.

    Examples
    --------
    >>> from skaudio.losses import cpc_step_weights
    >>> [round(w, 3) for w in cpc_step_weights(3, "linear").tolist()]
    [0.5, 0.333, 0.167]
    >>> [round(w, 3) for w in cpc_step_weights(4).tolist()]
    [0.25, 0.25, 0.25, 0.25]
    """
    if scheme == "uniform":
        weights = torch.ones(n_predict)
    elif scheme == "linear":
        weights = torch.arange(n_predict, 0, -1, dtype=torch.float32)
    else:
        raise ValueError(f"unknown step weighting {scheme!r}; choose 'uniform' or 'linear'")
    return weights / weights.sum()


def _sample_clip_negatives(
    valid: torch.Tensor,
    clips: torch.Tensor,
    times: torch.Tensor,
    n_negatives: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Negatives from the positive's own clip: other valid frames, uniformly, with replacement.

    For prediction ``i``, whose positive is frame ``times[i]`` of clip ``clips[i]``,
    each negative is drawn uniformly from the other valid frames of that clip,
    :math:`\{ u \ne t_i : \text{valid}[c_i, u] \}`: the rank ``r`` of a draw among
    them is uniform on ``0 .. n_valid - 2``, and ranks at or after the positive's are
    moved one up, past it. Used by :func:`cpc_infonce` with ``negatives="clip"``.

    Parameters
    ----------
    valid : Tensor of shape (batch, n_frames), dtype bool
        Which frames hold audio (any pattern, not only a prefix).
    clips, times : Tensor of shape (n_rows,), dtype long
        Clip and frame of each prediction's positive, a valid frame.
    n_negatives : int
        Negatives per prediction.
    generator : torch.Generator or None, default=None
        Source of the draws, on the device of ``valid``.

    Returns
    -------
    index : Tensor of shape (n_rows, n_negatives), dtype long
        Flat indices ``clips[i] * n_frames + u`` into ``z.reshape(batch * n_frames,
        z_dim)``: valid frames of clip ``clips[i]``, never ``times[i]``.

    Raises
    ------
    ValueError
        If the clip of a positive has no other valid frame.
    """
    n_frames = valid.shape[1]
    n_valid = valid.sum(dim=1)[clips]  # (n_rows,)
    if bool((n_valid < 2).any()):
        raise ValueError("negatives='clip' needs another valid frame in the clip of each positive")
    # the valid frames of each clip first, in time order: order[c, r] is the r-th one
    order = torch.argsort((~valid).to(torch.uint8), dim=1, stable=True)
    rank = valid.cumsum(dim=1)[clips, times] - 1  # the positive's rank among them
    draw = torch.randint(
        0, 2**62, (len(clips), n_negatives), generator=generator, device=valid.device
    )
    draw = draw % (n_valid - 1)[:, None]  # uniform on 0 .. n_valid - 2 (bias ~ n / 2**62)
    draw = draw + (draw >= rank[:, None]).long()
    return clips[:, None] * n_frames + order[clips[:, None], draw]


def _step_logits(z, prediction, valid, k, negatives, n_negatives, generator):
    """Logits and targets of the predictions ``k`` steps ahead, over valid rows only."""
    batch, n_frames, dim = z.shape
    span = n_frames - k
    rows = valid[:, k:]  # the future frame exists (valid frames are a prefix)
    target_clip = torch.arange(batch, device=z.device)[:, None].expand(batch, span)
    target_time = torch.arange(k, n_frames, device=z.device)[None].expand(batch, span)
    if negatives == "clip":
        return _clip_step_logits(
            z, prediction, valid, rows, target_clip, target_time, n_negatives, generator
        )
    if n_negatives is None and negatives == "batch":
        # every clip of the batch at the same future step is a candidate
        logits = torch.einsum("btd,ctd->btc", prediction, z[:, k:])
        logits = logits.masked_fill(~valid[:, k:].T[None], float("-inf"))
        return logits[rows], target_clip[rows]
    flat = z.reshape(batch * n_frames, dim)
    positive = target_clip * n_frames + target_time  # (batch, span) indices into flat
    if n_negatives is None:  # "batch+time": every position of the batch
        logits = prediction[rows] @ flat.T
        logits = logits.masked_fill(~valid.reshape(1, -1), float("-inf"))
        return logits, positive[rows]
    # sampled negatives, uniformly from the pool, never the positive itself
    n_rows = int(rows.sum())
    if negatives == "batch":
        shift = torch.randint(1, batch, (n_rows, n_negatives), generator=generator, device=z.device)
        clips = (target_clip[rows][:, None] + shift) % batch
        index = clips * n_frames + target_time[rows][:, None]
    else:
        draw = torch.randint(
            0, batch * n_frames - 1, (n_rows, n_negatives), generator=generator, device=z.device
        )
        index = draw + (draw >= positive[rows][:, None]).long()
    scores = torch.einsum("nd,nmd->nm", prediction[rows], flat[index])
    scores = scores.masked_fill(~valid.reshape(-1)[index], float("-inf"))
    own = (prediction[rows] * flat[positive[rows]]).sum(dim=1, keepdim=True)
    logits = torch.cat([own, scores], dim=1)
    return logits, torch.zeros(n_rows, dtype=torch.long, device=z.device)


def _clip_step_logits(z, prediction, valid, rows, target_clip, target_time, n_negatives, gen):
    """:func:`_step_logits` with the negatives of ``"clip"``: the positive's own clip."""
    if n_negatives is None:  # every valid frame of the same clip is a candidate
        logits = torch.einsum("btd,bsd->bts", prediction, z)  # (batch, span, n_frames)
        logits = logits.masked_fill(~valid[:, None], float("-inf"))
        return logits[rows], target_time[rows]
    flat = z.reshape(-1, z.shape[2])
    clips, times = target_clip[rows], target_time[rows]
    index = _sample_clip_negatives(valid, clips, times, n_negatives, gen)
    scores = torch.einsum("nd,nmd->nm", prediction[rows], flat[index])
    own = (prediction[rows] * z[clips, times]).sum(dim=1, keepdim=True)
    logits = torch.cat([own, scores], dim=1)
    return logits, torch.zeros(len(clips), dtype=torch.long, device=z.device)


@fp32_island
def cpc_infonce(
    z: torch.Tensor,
    predictions: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    negatives: str = "batch",
    n_negatives: int | None = None,
    step_weights: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""InfoNCE of contrastive predictive coding over every prediction step.

    ``predictions[k - 1, b, t]``, the prediction :math:`\hat z^{(k)}_{b,t} = W_k c_{b,t}`
    made from the context of clip :math:`b` at time :math:`t`, must score the true
    future :math:`z_{b,t+k}` (``z[b, t + k]``) above the negatives :math:`N_{b,t,k}`,
    by dot product. The loss of step :math:`k` is the cross-entropy of picking the
    positive, averaged over the set :math:`V_k` of valid ``(b, t)`` (van den Oord, Li
    & Vinyals, 2018, eq. 4):

    .. math::

        L_k = -\frac{1}{|V_k|} \sum_{(b, t) \in V_k} \log
            \frac{\exp\big(z_{b,t+k}^\top \hat z^{(k)}_{b,t}\big)}
                 {\exp\big(z_{b,t+k}^\top \hat z^{(k)}_{b,t}\big)
                  + \sum_{z' \in N_{b,t,k}} \exp\big({z'}^\top \hat z^{(k)}_{b,t}\big)},
        \qquad
        L = \frac{\sum_k w_k L_k}{\sum_k w_k}.

    Negatives: ``"batch"``, the other clips of the batch at the same future step;
    ``"batch+time"``, every other position of the batch (other clips at any step, and
    other steps of the same clip); ``"clip"``, the other steps of the same clip only,
    :math:`N_{b,t,k} \subseteq \{ z_{b,u} : u \ne t + k \}`, past and future alike
    (what differs between clips, e.g. the speaker, then cannot pick the positive; the
    "same sequence" sampling of Rivière et al., 2020, within one window).
    ``n_negatives=None`` uses all of them (exact, memory ``batch * n_frames`` per
    prediction with ``"batch+time"``, ``n_frames`` with ``"clip"``); an integer draws
    that many uniformly from the pool with ``generator`` (with replacement; the
    positive is never drawn). Invalid (padding) positions are never candidates.

    Parameters
    ----------
    z : Tensor of shape (batch, n_frames, z_dim)
        Encoder outputs.
    predictions : Tensor of shape (n_predict, batch, n_frames, z_dim)
        Predictions of the future made from each context; entries without a future
        (``t + k >= n_frames``) are ignored.
    valid : Tensor of shape (batch, n_frames), dtype bool, or None, default=None
        Which frames hold audio (a prefix of each clip); ``None`` means all.
    negatives : {"batch", "batch+time", "clip"}, default="batch"
        Pool of the negatives, see above.
    n_negatives : int or None, default=None
        Number of sampled negatives per prediction; ``None`` uses the whole pool.
    step_weights : Tensor of shape (n_predict,) or None, default=None
        Weights :math:`w_k` of the steps (see :func:`cpc_step_weights`); ``None`` is
        uniform. Steps without any valid prediction are left out and the others
        re-normalised.
    generator : torch.Generator or None, default=None
        Source of the sampled negatives, on the device of ``z``.

    Returns
    -------
    loss : Tensor of shape ()
        The weighted mean :math:`L` of the step losses; zero (still attached to the
        graph) when no step has a valid prediction.
    step_accuracy : Tensor of shape (n_predict,)
        Share of predictions whose best-scored candidate is the positive, per step
        (NaN for steps without a valid prediction), on the CPU.

    Raises
    ------
    ValueError
        If ``negatives`` is not ``"batch"``, ``"batch+time"`` or ``"clip"``.

    Examples
    --------
    Predictions equal to the true futures (unit vectors, scaled up) beat every
    negative:

    >>> import torch
    >>> from skaudio.losses import cpc_infonce
    >>> _ = torch.manual_seed(0)
    >>> z = torch.nn.functional.normalize(torch.randn(4, 6, 8), dim=-1)  # (batch, n_frames, z_dim)
    >>> predictions = 10 * torch.stack([z.roll(-k, dims=1) for k in (1, 2)])  # n_predict=2
    >>> loss, step_accuracy = cpc_infonce(z, predictions)
    >>> bool(loss < 0.1), step_accuracy.tolist()
    (True, [1.0, 1.0])
    """
    if negatives not in {"batch", "batch+time", "clip"}:
        raise ValueError(f"unknown negatives {negatives!r}; choose 'batch', 'batch+time' or 'clip'")
    n_predict, batch, n_frames, _ = predictions.shape
    if valid is None:
        valid = torch.ones(batch, n_frames, dtype=torch.bool, device=z.device)
    if step_weights is None:
        step_weights = cpc_step_weights(n_predict)
    losses, weights = [], []
    accuracy = torch.full((n_predict,), float("nan"))
    for k in range(1, min(n_predict, n_frames - 1) + 1):
        prediction = predictions[k - 1, :, : n_frames - k]
        logits, targets = _step_logits(z, prediction, valid, k, negatives, n_negatives, generator)
        if targets.numel() == 0:
            continue
        losses.append(F.cross_entropy(logits, targets))
        weights.append(float(step_weights[k - 1]))
        accuracy[k - 1] = (logits.argmax(dim=1) == targets).float().mean().item()
    if not losses:
        return predictions.sum() * 0.0, accuracy
    total = sum(w * loss for w, loss in zip(weights, losses, strict=True))
    return total / sum(weights), accuracy


class CPCOutput(NamedTuple):
    """What :class:`skaudio.models.CPCModel` returns in pretraining.

    The arguments of :func:`cpc_infonce`, as read by :class:`CPCCriterion`; each
    field is also an attribute.

    Parameters
    ----------
    z : Tensor of shape (batch, n_frames, z_dim)
        Encoder outputs :math:`z_t`.
    predictions : Tensor of shape (n_predict, batch, n_frames, z_dim)
        ``predictions[k - 1, b, t]`` predicts ``z[b, t + k]`` from the context at ``t``.
    valid : Tensor of shape (batch, n_frames), dtype bool
        Which frames hold audio (the rest is padding).

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import CPCOutput
    >>> z, valid = torch.zeros(2, 5, 4), torch.ones(2, 5, dtype=torch.bool)
    >>> output = CPCOutput(z, torch.zeros(3, 2, 5, 4), valid)
    >>> output.predictions.shape, output._fields
    (torch.Size([3, 2, 5, 4]), ('z', 'predictions', 'valid'))
    """

    z: torch.Tensor
    predictions: torch.Tensor
    valid: torch.Tensor


class CPCCriterion(nn.Module):
    """skorch criterion of CPC: :func:`cpc_infonce`, logging the accuracy of every step.

    The model's output is a :class:`CPCOutput`; the target passed by skorch is
    ignored. :meth:`metrics` reports the accuracy of the last batch per step
    (``step1_acc``, ``step2_acc``, ...) and their mean (``pretext_acc``).

    Parameters
    ----------
    n_predict : int
        Number of future steps the model predicts.
    negatives : {"batch", "batch+time", "clip"}, default="batch"
        Pool of the negatives, see :func:`cpc_infonce`.
    n_negatives : int or None, default=None
        Number of sampled negatives per prediction; ``None`` uses the whole pool.
    step_weights : {"uniform", "linear"}, default="uniform"
        Weighting of the steps, see :func:`cpc_step_weights`.
    seed : int, default=0
        Seed of the negative sampling (used only with an integer ``n_negatives``).

    Attributes
    ----------
    metric_names : tuple of str
        Names of the batch metrics of :meth:`metrics`.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import CPCCriterion, CPCOutput
    >>> _ = torch.manual_seed(0)
    >>> z = torch.nn.functional.normalize(torch.randn(4, 6, 8), dim=-1)
    >>> output = CPCOutput(z, torch.randn(2, 4, 6, 8), torch.ones(4, 6, dtype=torch.bool))
    >>> criterion = CPCCriterion(n_predict=2)
    >>> criterion(output).shape, criterion.metric_names
    (torch.Size([]), ('pretext_acc', 'step1_acc', 'step2_acc'))
    """

    def __init__(
        self,
        n_predict: int,
        negatives: str = "batch",
        n_negatives: int | None = None,
        step_weights: str = "uniform",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.n_predict = n_predict
        self.negatives = negatives
        self.n_negatives = n_negatives
        self.register_buffer("step_weights", cpc_step_weights(n_predict, step_weights))
        self._generator = DeviceGenerator(seed)
        self._last_accuracy: torch.Tensor | None = None
        self.metric_names = ("pretext_acc", *(f"step{k}_acc" for k in range(1, n_predict + 1)))

    @fp32_island
    def forward(self, output: CPCOutput, target: torch.Tensor | None = None) -> torch.Tensor:
        loss, self._last_accuracy = cpc_infonce(
            output.z,
            output.predictions,
            output.valid,
            negatives=self.negatives,
            n_negatives=self.n_negatives,
            step_weights=self.step_weights,
            generator=self._generator.on(output.z.device),
        )
        return loss

    @fp32_island
    def metrics(self, output: CPCOutput) -> dict[str, float]:
        """Per-step prediction accuracy of the last batch, and their mean."""
        accuracy = self._last_accuracy
        metrics = {f"step{k + 1}_acc": float(a) for k, a in enumerate(accuracy)}
        metrics["pretext_acc"] = float(accuracy[~accuracy.isnan()].mean())
        return metrics
