"""Losses of the token transformer: patch reconstruction and next-token prediction."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "NextTokenCriterion",
    "NextTokenOutput",
    "ReconstructionCriterion",
    "next_token_accuracy",
    "next_token_loss",
]


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the next token, ignoring padding (target ``-1``).

    Parameters
    ----------
    logits : Tensor of shape (batch, n_steps, n_tokens)
    targets : Tensor of shape (batch, n_steps), dtype long

    Returns
    -------
    loss : Tensor of shape ()
    """
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)


def next_token_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Share of (non-padding) steps whose most likely next token is the true one.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_steps, n_tokens)
    targets : Tensor of shape (batch, n_steps), dtype long

    Returns
    -------
    accuracy : Tensor of shape ()
    """
    real = targets >= 0
    return (logits.argmax(dim=-1) == targets)[real].float().mean()


class NextTokenOutput(NamedTuple):
    """Next-token logits and targets (``-1`` marks padding)."""

    logits: torch.Tensor
    targets: torch.Tensor


class NextTokenCriterion(nn.Module):
    """skorch criterion of the token transformer: :func:`next_token_loss`."""

    metric_names = ("pretext_acc",)

    def forward(self, output: NextTokenOutput, target: torch.Tensor | None = None):
        return next_token_loss(output.logits, output.targets)

    def metrics(self, output: NextTokenOutput) -> dict[str, float]:
        """Batch metric: next-token accuracy."""
        return {"pretext_acc": next_token_accuracy(output.logits, output.targets).item()}


class ReconstructionCriterion(nn.Module):
    """skorch criterion of the patch autoencoder: mean squared reconstruction error.

    The model's output is ``(reconstruction, original)``; the target is ignored.
    """

    def forward(self, output, target: torch.Tensor | None = None) -> torch.Tensor:
        reconstruction, original = output
        return F.mse_loss(reconstruction, original)
