"""Contrastive losses as pure functions of tensors, with thin skorch criterion wrappers."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ._torch_utils import DeviceGenerator

__all__ = [
    "COLACriterion",
    "COLAOutput",
    "CPCCriterion",
    "CPCOutput",
    "ContrastiveCrossEntropy",
    "NTXentCriterion",
    "bilinear_logits",
    "cola_loss",
    "contrastive_accuracy",
    "contrastive_cross_entropy",
    "cosine_logits",
    "cpc_infonce",
    "cpc_step_weights",
    "frame_contrastive_accuracy",
    "frame_contrastive_loss",
    "nt_xent_accuracy",
    "nt_xent_loss",
    "pitch_shift_loss",
]


def bilinear_logits(
    anchors: torch.Tensor, positives: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Bilinear similarity ``s(a, p) = a^T W p`` between every anchor and positive.

    Parameters
    ----------
    anchors : Tensor of shape (..., n, dim)
    positives : Tensor of shape (..., m, dim)
        Leading (batch) dimensions, if any, are matched with those of ``anchors``.
    weight : Tensor of shape (dim, dim)

    Returns
    -------
    logits : Tensor of shape (..., n, m)
    """
    return anchors @ weight @ positives.transpose(-1, -2)


def cosine_logits(
    anchors: torch.Tensor, positives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Cosine similarity divided by a temperature, between every anchor and positive.

    Parameters
    ----------
    anchors : Tensor of shape (..., n, dim)
    positives : Tensor of shape (..., m, dim)
        Leading (batch) dimensions, if any, are matched with those of ``anchors``.
    temperature : float
        Positive scale; smaller values sharpen the softmax.

    Returns
    -------
    logits : Tensor of shape (..., n, m)
    """
    normalised = F.normalize(positives, dim=-1).transpose(-1, -2)
    return F.normalize(anchors, dim=-1) @ normalised / temperature


def contrastive_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy where anchor ``i``'s positive is column ``i`` and the others negatives.

    Parameters
    ----------
    logits : Tensor of shape (n, n)

    Returns
    -------
    loss : Tensor of shape ()
        Mean over anchors of ``-log softmax(logits[i])[i]``.
    """
    targets = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, targets)


def contrastive_accuracy(logits: torch.Tensor) -> torch.Tensor:
    """Share of anchors whose most similar candidate is their own positive.

    Parameters
    ----------
    logits : Tensor of shape (n, n)

    Returns
    -------
    accuracy : Tensor of shape ()
    """
    targets = torch.arange(logits.shape[0], device=logits.device)
    return (logits.argmax(dim=1) == targets).float().mean()


def cola_loss(
    anchors: torch.Tensor,
    positives: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    temperature: float = 0.1,
) -> torch.Tensor:
    """COLA objective (Saeed et al., 2021): pick each anchor's positive among the batch.

    Parameters
    ----------
    anchors : Tensor of shape (n, dim)
        Projected embeddings of one segment per clip.
    positives : Tensor of shape (n, dim)
        Projected embeddings of another segment of the same clips, in the same order.
    weight : Tensor of shape (dim, dim) or None, default=None
        Bilinear similarity matrix; ``None`` uses cosine similarity with ``temperature``.
    temperature : float, default=0.1
        Used only with cosine similarity.

    Returns
    -------
    loss : Tensor of shape ()
    """
    if weight is None:
        logits = cosine_logits(anchors, positives, temperature)
    else:
        logits = bilinear_logits(anchors, positives, weight)
    return contrastive_cross_entropy(logits)


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


def _nt_xent_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float):
    """(2n, 2n) logits with the self-similarities masked, and each view's target index."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))  # a view is never its own candidate
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return logits, targets


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al., 2020).

    The ``2n`` views are compared by cosine similarity over ``temperature``. View ``i``
    of ``z1`` must pick view ``i`` of ``z2`` among the other ``2n - 1`` views, and the
    other way round; the loss averages both directions over all ``2n`` views.

    Parameters
    ----------
    z1 : Tensor of shape (n, dim)
        Projections of the first view of each clip.
    z2 : Tensor of shape (n, dim)
        Projections of the second view, row for row.
    temperature : float, default=0.5

    Returns
    -------
    loss : Tensor of shape ()
    """
    logits, targets = _nt_xent_logits(z1, z2, temperature)
    return F.cross_entropy(logits, targets)


def nt_xent_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Share of the ``2n`` views whose most similar other view is their pair.

    Parameters
    ----------
    z1, z2 : Tensor of shape (n, dim)

    Returns
    -------
    accuracy : Tensor of shape ()
    """
    logits, targets = _nt_xent_logits(z1, z2, 1.0)
    return (logits.argmax(dim=1) == targets).float().mean()


class ContrastiveCrossEntropy(nn.Module):
    """skorch criterion over a similarity matrix: :func:`contrastive_cross_entropy`.

    The target passed by skorch is ignored (the positives are on the diagonal).
    """

    metric_names = ("pretext_acc",)

    def forward(self, logits: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        return contrastive_cross_entropy(logits)

    def metrics(self, logits: torch.Tensor) -> dict[str, float]:
        """Batch metrics to log: retrieval accuracy of the positive among the batch."""
        return {"pretext_acc": contrastive_accuracy(logits).item()}


class NTXentCriterion(nn.Module):
    """skorch criterion of SimCLR/CLAR: NT-Xent plus an optional supervised term.

    The model's output is ``(z1, z2, class_logits)``. With ``class_logits`` given, the
    cross-entropy of both views of the labelled clips (target ``>= 0``; ``-1`` marks
    unlabelled clips) is added with weight ``supervised_weight``.

    Parameters
    ----------
    temperature : float
    supervised_weight : float, default=0.0
    """

    metric_names = ("pretext_acc",)

    def __init__(self, temperature: float, supervised_weight: float = 0.0) -> None:
        super().__init__()
        self.temperature = temperature
        self.supervised_weight = supervised_weight

    def forward(self, y_pred, target: torch.Tensor) -> torch.Tensor:
        z1, z2, class_logits = y_pred
        loss = nt_xent_loss(z1, z2, self.temperature)
        if class_logits is not None and self.supervised_weight > 0:
            labels = torch.cat([target, target]).to(class_logits.device).long()
            labelled = labels >= 0
            if labelled.any():
                supervised = F.cross_entropy(class_logits[labelled], labels[labelled])
                loss = loss + self.supervised_weight * supervised
        return loss

    def metrics(self, y_pred) -> dict[str, float]:
        """Batch metrics to log: how often a view's nearest other view is its pair."""
        z1, z2, _ = y_pred
        return {"pretext_acc": nt_xent_accuracy(z1, z2).item()}


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


# -- contrastive predictive coding ---------------------------------------------------


def cpc_step_weights(n_predict: int, scheme: str = "uniform") -> torch.Tensor:
    """Weights of the prediction steps ``k = 1..n_predict``, summing to one.

    ``"uniform"`` weighs every step alike; ``"linear"`` weighs step ``k`` by
    ``n_predict - k + 1`` (the near future counts most).

    Returns
    -------
    weights : Tensor of shape (n_predict,)
    """
    if scheme == "uniform":
        weights = torch.ones(n_predict)
    elif scheme == "linear":
        weights = torch.arange(n_predict, 0, -1, dtype=torch.float32)
    else:
        raise ValueError(f"unknown step weighting {scheme!r}; choose 'uniform' or 'linear'")
    return weights / weights.sum()


def _step_logits(z, prediction, valid, k, negatives, n_negatives, generator):
    """Logits and targets of the predictions ``k`` steps ahead, over valid rows only."""
    batch, n_frames, dim = z.shape
    span = n_frames - k
    rows = valid[:, k:]  # the future frame exists (valid frames are a prefix)
    target_clip = torch.arange(batch, device=z.device)[:, None].expand(batch, span)
    target_time = torch.arange(k, n_frames, device=z.device)[None].expand(batch, span)
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
    """InfoNCE of CPC (van den Oord et al., 2018) over every prediction step.

    ``predictions[k - 1, b, t]`` (``W_k c_t`` of clip ``b``) must score the true future
    ``z[b, t + k]`` above the negatives, by dot product; the loss of a step is the
    cross-entropy of picking the positive, averaged over the valid ``(b, t)``.

    Negatives: ``"batch"``, the other clips of the batch at the same future step;
    ``"batch+time"``, every other position of the batch (other clips at any step, and
    other steps of the same clip). ``n_negatives=None`` uses all of them (exact,
    memory ``batch * n_frames`` per prediction with ``"batch+time"``); an integer draws
    that many uniformly from the pool with ``generator`` (with replacement; the
    positive is never drawn). Invalid (padding) positions are never candidates.

    Parameters
    ----------
    z : Tensor of shape (batch, n_frames, z_dim)
        Encoder outputs.
    predictions : Tensor of shape (n_predict, batch, n_frames, z_dim)
        Predictions of the future made from each context; entries without a future
        (``t + k >= n_frames``) are ignored.
    valid : Tensor of shape (batch, n_frames), dtype bool, or None
        Which frames hold audio (a prefix of each clip); ``None`` means all.
    negatives : {"batch", "batch+time"}, default="batch"
    n_negatives : int or None, default=None
    step_weights : Tensor of shape (n_predict,) or None, default=None
        Weights of the steps; ``None`` is uniform. Steps without any valid prediction
        are left out and the others re-normalised.
    generator : torch.Generator or None
        Source of the sampled negatives.

    Returns
    -------
    loss : Tensor of shape ()
    step_accuracy : Tensor of shape (n_predict,)
        Share of predictions whose best-scored candidate is the positive, per step
        (NaN for steps without a valid prediction).
    """
    if negatives not in {"batch", "batch+time"}:
        raise ValueError(f"unknown negatives {negatives!r}; choose 'batch' or 'batch+time'")
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

    Attributes
    ----------
    z : Tensor of shape (batch, n_frames, z_dim)
    predictions : Tensor of shape (n_predict, batch, n_frames, z_dim)
    valid : Tensor of shape (batch, n_frames), dtype bool
    """

    z: torch.Tensor
    predictions: torch.Tensor
    valid: torch.Tensor


class CPCCriterion(nn.Module):
    """skorch criterion of CPC: :func:`cpc_infonce`, logging the accuracy of every step.

    Parameters
    ----------
    n_predict : int
    negatives : {"batch", "batch+time"}, default="batch"
    n_negatives : int or None, default=None
    step_weights : {"uniform", "linear"}, default="uniform"
    seed : int, default=0
        Seed of the negative sampling (used only with an integer ``n_negatives``).
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

    def metrics(self, output: CPCOutput) -> dict[str, float]:
        """Per-step prediction accuracy of the last batch, and their mean."""
        accuracy = self._last_accuracy
        metrics = {f"step{k + 1}_acc": float(a) for k, a in enumerate(accuracy)}
        metrics["pretext_acc"] = float(accuracy[~accuracy.isnan()].mean())
        return metrics
