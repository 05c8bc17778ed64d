"""Contrastive predictive coding (van den Oord et al., 2018): InfoNCE over future steps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._torch_utils import DeviceGenerator, fp32_island
from ..models.cpc import CPCOutput

__all__ = ["CPCCriterion", "cpc_infonce", "cpc_step_weights"]


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


def _clip_negatives(
    valid: torch.Tensor, clips: torch.Tensor, times: torch.Tensor, draw: torch.Tensor
) -> torch.Tensor:
    """:func:`_sample_clip_negatives` from given draws, uniform on ``0 .. 2**62 - 1``.

    ``clips`` and ``times`` may have any shape ``S``, ``draw`` has shape ``(*S,
    n_negatives)``; static shapes, no host read. A clip with fewer than two valid
    frames gets an invalid frame (the caller masks it).
    """
    n_frames = valid.shape[1]
    n_valid = valid.sum(dim=1)[clips]
    # the valid frames of each clip first, in time order: order[c, r] is the r-th one
    order = torch.argsort((~valid).to(torch.uint8), dim=1, stable=True)
    rank = valid.cumsum(dim=1)[clips, times] - 1  # the positive's rank among them
    draw = draw % (n_valid - 1).clamp_min(1)[..., None]  # uniform on 0 .. n_valid - 2
    draw = (draw + (draw >= rank[..., None]).long()).clamp_max(n_frames - 1)
    return clips[..., None] * n_frames + order[clips[..., None], draw]


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
    moved one up, past it. :func:`cpc_infonce` with ``negatives="clip"`` draws the
    same way, for every step at once.

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
        If the clip of a positive has no other valid frame (a check that reads the
        device: the training step does not call this function).
    """
    if bool((valid.sum(dim=1)[clips] < 2).any()):
        raise ValueError("negatives='clip' needs another valid frame in the clip of each positive")
    draw = torch.randint(
        0, 2**62, (len(clips), n_negatives), generator=generator, device=valid.device
    )
    return _clip_negatives(valid, clips, times, draw)


def _pool_negatives(
    pool: torch.Tensor, owners: torch.Tensor, positives: torch.Tensor, draw: torch.Tensor
) -> torch.Tensor:
    """Candidates drawn from a pool per row, never the positive: static shapes, no host read.

    ``pool[o, j]`` says whether candidate ``j`` (a flat ``clip * n_frames + time``) is
    in the pool of owner ``o``; ``owners`` and ``positives`` (the pool's owner and
    the positive's candidate, in the pool) have any shape ``S``, ``draw`` has shape
    ``(*S, n_negatives)``, uniform on ``0 .. 2**62 - 1``. The rank of a draw among the
    pool's other candidates is uniform on ``0 .. pool_size - 2``; ranks at or after
    the positive's move one up, past it. A pool of the positive alone gives a
    candidate outside it (the caller masks it).
    """
    n_candidates = pool.shape[1]
    size = pool.sum(dim=1)[owners]
    # the pool's candidates first, in order: order[o, r] is the r-th one
    order = torch.argsort((~pool).to(torch.uint8), dim=1, stable=True)
    rank = pool.cumsum(dim=1)[owners, positives] - 1  # the positive's rank in the pool
    draw = draw % (size - 1).clamp_min(1)[..., None]
    draw = (draw + (draw >= rank[..., None]).long()).clamp_max(n_candidates - 1)
    return order[owners[..., None], draw]


def _group_pool(valid: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """(batch, batch * n_frames) bool: the valid frames of the clips of each clip's group."""
    same = groups[:, None] == groups[None, :]
    return (same[:, :, None] & valid[None]).reshape(len(groups), -1)


def _row_draws(rows, low, high, n_negatives, generator):
    """Draws of shape (n_steps, batch, n_frames, n_negatives), the same as one per step.

    One block as large as the valid rows can be (a static shape: no host read of their
    number) is drawn, and the ``r``-th valid row of step ``k`` takes row ``n_rows_1 +
    ... + n_rows_{k-1} + r`` of it. On the CPU these are the numbers that drawing
    ``(n_rows_k, n_negatives)`` for the ``n_rows_k`` valid rows of each step ``k`` in
    turn would give (one block of a generator gives the numbers of consecutive smaller
    draws); with padding the block is larger than those draws, so later draws of
    ``generator`` differ from theirs.
    """
    n_steps, batch, n_frames = rows.shape
    most = batch * (n_steps * n_frames - n_steps * (n_steps + 1) // 2)
    block = torch.randint(low, high, (most, n_negatives), generator=generator, device=rows.device)
    flat = rows.reshape(n_steps, -1)
    counts = flat.sum(dim=1)
    position = (counts.cumsum(0) - counts)[:, None] + flat.cumsum(dim=1) - 1
    position = position.masked_fill(~flat, 0).reshape(rows.shape)
    return block[position]


def _all_step_logits(
    z, predictions, valid, rows, future, negatives, n_negatives, generator, groups=None
):
    """Logits (n_steps, batch, n_frames, n_candidates) of every step, and the targets.

    Rows ``(k, b, t)`` that are not predictions (``rows`` False) hold finite garbage
    (no candidate masked: no NaN through the softmax), as do their targets; the
    caller ignores them.
    """
    batch, n_frames, dim = z.shape
    inf = float("-inf")

    def mask(logits, invalid):  # invalid candidates out, in the rows that are predictions
        return logits.masked_fill_(invalid & rows[..., None], inf)

    clips = torch.arange(batch, device=z.device)[None, :, None].expand(rows.shape)
    times = future[:, None, :].expand(rows.shape)  # the positive's frame, t + k
    z_future = z[:, future].transpose(0, 1)  # (n_steps, batch, n_frames, dim): z[b, t + k]
    flat = z.reshape(batch * n_frames, dim)
    if n_negatives is None:
        if negatives == "batch":  # every clip of the batch at the same future step
            logits = torch.einsum("kbtd,kctd->kbtc", predictions, z_future)
            return mask(logits, ~rows.transpose(1, 2)[:, None]), clips
        if negatives == "clip":  # every valid frame of the same clip
            logits = torch.einsum("kbtd,bsd->kbts", predictions, z)
            return mask(logits, ~valid[None, :, None]), times
        logits = predictions @ flat.T  # "batch+time": every position of the batch
        if negatives == "group":  # every valid frame of the clips of the same group
            invalid = ~_group_pool(valid, groups)[None, :, None]
        else:
            invalid = ~valid.reshape(-1)
        return mask(logits, invalid), clips * n_frames + times
    # sampled negatives, uniformly from the pool, never the positive itself; scored
    # against the whole pool of "batch" or "clip" (small) and picked, rather than
    # gathering a vector per negative ("batch+time", "group": gathered)
    if negatives == "batch":
        shift = _row_draws(rows, 1, batch, n_negatives, generator)
        other = (clips[..., None] + shift) % batch
        index = other * n_frames + times[..., None]
        pool = torch.einsum("kbtd,kctd->kbtc", predictions, z_future)
        scores = pool.gather(-1, other)
    elif negatives == "clip":
        draw = _row_draws(rows, 0, 2**62, n_negatives, generator)
        index = _clip_negatives(valid, clips, times, draw)
        pool = torch.einsum("kbtd,bsd->kbts", predictions, z)
        scores = pool.gather(-1, index % n_frames)
    elif negatives == "group":
        draw = _row_draws(rows, 0, 2**62, n_negatives, generator)
        members = _group_pool(valid, groups)
        index = _pool_negatives(members, clips, clips * n_frames + times, draw)
        scores = torch.einsum("kbtd,kbtmd->kbtm", predictions, flat[index])
        scores = scores.masked_fill_(~members[clips[..., None], index] & rows[..., None], inf)
    else:
        draw = _row_draws(rows, 0, batch * n_frames - 1, n_negatives, generator)
        index = draw + (draw >= (clips * n_frames + times)[..., None]).long()
        scores = torch.einsum("kbtd,kbtmd->kbtm", predictions, flat[index])
    scores = mask(scores, ~valid.reshape(-1)[index])
    own = (predictions * z_future).sum(dim=-1, keepdim=True)
    logits = torch.cat([own, scores], dim=-1)
    return logits, torch.zeros(rows.shape, dtype=torch.long, device=z.device)


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
    groups: torch.Tensor | None = None,
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
    "same sequence" sampling of Rivière et al., 2020, within one window); ``"group"``,
    every other position of the clips of the same group (``groups``: speaker,
    recording, ...), the clip's own other steps included,

    .. math::

        N_{b,t,k} \subseteq \{ z_{c,u} : g_c = g_b,\ (c, u) \ne (b, t + k) \},

    so that what tells groups apart cannot pick the positive (Rivière et al.'s "same
    speaker" sampling; with one group per clip it is ``"clip"``, with one group for
    the batch ``"batch+time"``).
    ``n_negatives=None`` uses all of them (exact, memory ``batch * n_frames`` per
    prediction with ``"batch+time"`` and ``"group"``, ``n_frames`` with ``"clip"``);
    an integer draws that many uniformly from the pool with ``generator`` (with
    replacement; the positive is never drawn). Invalid (padding) positions are never
    candidates.

    All steps are computed at once, with static shapes (every ``(k, b, t)``, the rows
    that are not predictions masked): nothing is read back to the host, so a training
    step on a GPU does not wait for it. The sampled negatives are those of a loop
    over the steps drawing for the valid rows of each step in turn (on the CPU the
    same numbers; with padding, ``generator`` then advances further).

    Parameters
    ----------
    z : Tensor of shape (batch, n_frames, z_dim)
        Encoder outputs.
    predictions : Tensor of shape (n_predict, batch, n_frames, z_dim)
        Predictions of the future made from each context; entries without a future
        (``t + k >= n_frames``) are ignored.
    valid : Tensor of shape (batch, n_frames), dtype bool, or None, default=None
        Which frames hold audio (a prefix of each clip); ``None`` means all.
    negatives : {"batch", "batch+time", "clip", "group"}, default="batch"
        Pool of the negatives, see above.
    n_negatives : int or None, default=None
        Number of sampled negatives per prediction; ``None`` uses the whole pool.
    step_weights : Tensor of shape (n_predict,) or None, default=None
        Weights :math:`w_k` of the steps (see :func:`cpc_step_weights`); ``None`` is
        uniform. Steps without any valid prediction are left out and the others
        re-normalised.
    generator : torch.Generator or None, default=None
        Source of the sampled negatives, on the device of ``z``.
    groups : Tensor of shape (batch,), integer, or None, default=None
        Group of each clip, for ``negatives="group"`` (required there, read by no
        other pool).

    Returns
    -------
    loss : Tensor of shape ()
        The weighted mean :math:`L` of the step losses; zero (still attached to the
        graph) when no step has a valid prediction.
    step_accuracy : Tensor of shape (n_predict,)
        Share of predictions whose best-scored candidate is the positive, per step
        (NaN for steps without a valid prediction), on the device of ``z``.

    Raises
    ------
    ValueError
        If ``negatives`` is not ``"batch"``, ``"batch+time"`` or ``"clip"`` (or
        ``"group"``), or is ``"group"`` without ``groups`` of shape ``(batch,)``.

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
    if negatives not in {"batch", "batch+time", "clip", "group"}:
        raise ValueError(
            f"unknown negatives {negatives!r}; choose 'batch', 'batch+time' or 'clip' "
            "(or 'group', with groups)"
        )
    n_predict, batch, n_frames, _ = predictions.shape
    device = z.device
    if negatives == "group" and (groups is None or tuple(groups.shape) != (batch,)):
        shape = None if groups is None else tuple(groups.shape)
        raise ValueError(
            f"negatives='group' needs groups of shape ({batch},), one per clip; got {shape}"
        )
    if valid is None:
        valid = torch.ones(batch, n_frames, dtype=torch.bool, device=device)
    if step_weights is None:  # cpc_step_weights(n_predict), made on the device
        step_weights = torch.ones(n_predict, device=device) / n_predict
    n_steps = min(n_predict, n_frames - 1)
    missing = torch.full((n_predict - max(n_steps, 0),), float("nan"), device=device)
    if n_steps < 1:
        return predictions.sum() * 0.0, missing
    # every step at once, over all (k, b, t): row (k, b, t) predicts z[b, t + k] if that
    # frame exists and holds audio (valid frames are a prefix)
    steps = torch.arange(1, n_steps + 1, device=device)
    future = torch.arange(n_frames, device=device)[None] + steps[:, None]  # (n_steps, n_frames)
    rows = (future < n_frames)[:, None] & valid[:, future.clamp_max(n_frames - 1)].transpose(0, 1)
    future = future.clamp_max(n_frames - 1)
    if negatives == "group":
        groups = groups.to(device)
    logits, targets = _all_step_logits(
        z, predictions[:n_steps], valid, rows, future, negatives, n_negatives, generator, groups
    )
    targets = targets.masked_fill(~rows, -100)  # the other rows: ignored
    log_probs = logits.log_softmax(dim=-1)
    n_candidates = logits.shape[-1]
    # the mean of each step over its rows, summed as F.cross_entropy of that step's rows
    # alone (NaN, 0 / 0, for a step without a row: left out below)
    # (unbind: one backward for all the steps, where indexing would give one each)
    losses = torch.stack(
        [
            F.nll_loss(step.reshape(-1, n_candidates), step_targets.reshape(-1))
            for step, step_targets in zip(log_probs.unbind(0), targets.unbind(0), strict=True)
        ]
    )
    counts = rows.sum(dim=(1, 2))
    present = counts > 0
    weights = step_weights[:n_steps].to(device).masked_fill(~present, 0.0)
    total = (weights * losses.masked_fill(~present, 0.0)).sum()
    # sum of the weights in float64, as a Python float sum would give (MPS has none)
    wide = torch.float32 if device.type == "mps" else torch.float64
    norm = weights.to(wide).sum().to(total.dtype)
    loss = total / torch.where(present.any(), norm, 1.0)  # 0 (attached) without a row
    correct = ((logits.argmax(dim=-1) == targets) & rows).sum(dim=(1, 2))
    accuracy = correct / counts  # NaN for a step without a row
    return loss, torch.cat([accuracy.to(missing.dtype), missing])


class CPCCriterion(nn.Module):
    """skorch criterion of CPC: :func:`cpc_infonce`, logging the accuracy of every step.

    The model's output is a :class:`CPCOutput`; the target passed by skorch is
    ignored, except with ``negatives="group"``, where it is the group of each clip of
    the batch (integer codes, as the estimator's training data gives them).
    :meth:`metrics` reports the accuracy of the last batch per step
    (``step1_acc``, ``step2_acc``, ...) and their mean (``pretext_acc``).

    Parameters
    ----------
    n_predict : int
        Number of future steps the model predicts.
    negatives : {"batch", "batch+time", "clip", "group"}, default="batch"
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
    >>> from skaudio.losses import CPCCriterion
    >>> from skaudio.models import CPCOutput
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
        groups = None
        if self.negatives == "group":
            if target is None:
                raise ValueError("negatives='group' needs the batch's groups as the target")
            groups = torch.as_tensor(target).reshape(-1)
        loss, self._last_accuracy = cpc_infonce(
            output.z,
            output.predictions,
            output.valid,
            negatives=self.negatives,
            n_negatives=self.n_negatives,
            step_weights=self.step_weights,
            generator=self._generator.on(output.z.device),
            groups=groups,
        )
        return loss

    @fp32_island
    def metrics(self, output: CPCOutput) -> dict[str, torch.Tensor]:
        """Per-step prediction accuracy of the last batch, and their mean.

        Detached 0-d tensors on the device of the batch (nothing is read back to the
        host: :class:`skaudio.training.SelfSupervisedNet` reads them once per epoch).
        """
        accuracy = self._last_accuracy.detach()
        metrics = {f"step{k + 1}_acc": accuracy[k] for k in range(len(accuracy))}
        metrics["pretext_acc"] = accuracy.nanmean()  # over the steps with a prediction
        return metrics
