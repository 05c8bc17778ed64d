"""Losses of the token transformer: patch reconstruction and next-token prediction."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._torch_utils import fp32_island
from ..models.token_transformer import NextTokenOutput

__all__ = [
    "NextTokenCriterion",
    "ReconstructionCriterion",
    "next_token_accuracy",
    "next_token_loss",
]


@fp32_island
def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""Cross-entropy of the next token, ignoring padding (target ``-1``).

    The generative objective of the token transformer (Verma & Smith): with
    :math:`\ell_{bt}` the logits at step :math:`t` of window :math:`b`, :math:`y_{bt}`
    the token that follows and :math:`R` the set of non-padding steps,

    .. math::

        L = -\frac{1}{|R|} \sum_{(b, t) \in R}
            \log \frac{\exp \ell_{bt y_{bt}}}{\sum_{j} \exp \ell_{btj}}.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_steps, n_tokens)
        Scores of every token of the vocabulary, at every step.
    targets : Tensor of shape (batch, n_steps), dtype long
        Id of the next token at every step, ``-1`` for padding.

    Returns
    -------
    loss : Tensor of shape ()
        Mean over the non-padding steps; ``log(n_tokens)`` for uniform logits; 0
        (with zero gradient) when every step is padding.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import next_token_loss
    >>> targets = torch.tensor([[1, 2, -1], [0, 4, 3]])  # -1: padding
    >>> round(float(next_token_loss(torch.zeros(2, 3, 5), targets)), 3)  # log(5)
    1.609
    >>> logits = 10 * torch.nn.functional.one_hot(targets.clamp(min=0), 5).float()
    >>> bool(next_token_loss(logits, targets) < 0.01)
    True
    """
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)
    # a batch with nothing to predict (one-token clips) gives 0, not 0 / 0 = NaN
    return torch.where((targets != -1).any(), loss, torch.zeros_like(loss))


@fp32_island
def next_token_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Share of (non-padding) steps whose most likely next token is the true one.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_steps, n_tokens)
        Scores of every token of the vocabulary, at every step.
    targets : Tensor of shape (batch, n_steps), dtype long
        Id of the next token at every step, ``-1`` for padding.

    Returns
    -------
    accuracy : Tensor of shape ()
        Between 0 and 1; NaN if every step is padding.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import next_token_accuracy
    >>> predicted = torch.tensor([[1, 2, 0], [0, 4, 3]])
    >>> logits = torch.nn.functional.one_hot(predicted, 5).float()
    >>> targets = torch.tensor([[1, 2, -1], [0, 1, 3]])  # 4 of the 5 real steps right
    >>> round(float(next_token_accuracy(logits, targets)), 3)
    0.8
    """
    real = targets >= 0
    correct = (logits.argmax(dim=-1) == targets) & real
    return correct.sum() / real.sum().clamp_min(1)  # 0 when every step is padding


class NextTokenCriterion(nn.Module):
    """skorch criterion of the token transformer: :func:`next_token_loss`.

    The model's output is a :class:`NextTokenOutput`; the target passed by skorch is
    ignored (the targets are in the output). :meth:`metrics` gives the next-token
    accuracy, logged as ``train_pretext_acc`` by
    :class:`skaudio.training.SelfSupervisedNet`.

    Attributes
    ----------
    metric_names : tuple of str
        ``("pretext_acc",)``, the names of the batch metrics of :meth:`metrics`.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import NextTokenCriterion
    >>> from skaudio.models import NextTokenOutput
    >>> output = NextTokenOutput(torch.zeros(2, 3, 5), torch.tensor([[1, 2, -1], [0, 4, 3]]))
    >>> criterion = NextTokenCriterion()
    >>> round(float(criterion(output)), 3)  # uniform logits: log(5)
    1.609
    >>> round(float(criterion.metrics(output)["pretext_acc"]), 3)  # argmax 0: right once in 5
    0.2
    """

    metric_names = ("pretext_acc",)

    @fp32_island
    def forward(self, output: NextTokenOutput, target: torch.Tensor | None = None):
        return next_token_loss(output.logits, output.targets)

    @fp32_island
    def metrics(self, output: NextTokenOutput) -> dict[str, torch.Tensor]:
        """Batch metric: next-token accuracy, a detached 0-d tensor on the batch's device.

        :class:`skaudio.training.SelfSupervisedNet` reads it back once per epoch.
        """
        return {"pretext_acc": next_token_accuracy(output.logits.detach(), output.targets)}


class ReconstructionCriterion(nn.Module):
    """skorch criterion of the patch autoencoder: mean squared reconstruction error.

    The model's output is ``(reconstruction, original)``, two tensors of the same
    shape, e.g. ``(batch, patch_dim)``; the target passed by skorch is ignored.

    Examples
    --------
    >>> import torch
    >>> from skaudio.losses import ReconstructionCriterion
    >>> criterion = ReconstructionCriterion()
    >>> patches = torch.ones(4, 12)
    >>> round(float(criterion((patches, patches))), 3)  # perfect reconstruction
    0.0
    >>> round(float(criterion((torch.zeros(4, 12), patches))), 3)
    1.0
    """

    @fp32_island
    def forward(self, output, target: torch.Tensor | None = None) -> torch.Tensor:
        reconstruction, original = output
        return F.mse_loss(reconstruction, original)
