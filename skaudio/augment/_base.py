"""What every augmentation is, and how augmentations compose.

An augmentation is a callable ``aug(x, generator) -> Tensor`` that transforms a batch
and draws every random choice from ``generator`` (never the global RNG), with
independent parameters for each example of the batch. ``domain`` says what it expects:
``"waveform"``, ``(batch, n_samples)``, or ``"spectrogram"``, ``(batch, n_mels,
n_frames)`` log-mel in dB. Augmentations are small dataclasses, so they print their
parameters, compare equal by value, and clone and grid-search as estimator parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["Augmentation", "Compose", "OneOf", "RandomApply", "uniform"]


def uniform(
    low: float, high: float, n: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """``n`` draws from U(low, high) on ``device``; shape (n,)."""
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def random_spans(
    batch: int, n: int, max_width: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Boolean mask (batch, n): one random span of up to ``max_width * n`` per row."""
    width = (uniform(0, max_width * n, batch, generator, device)).long()[:, None]
    start = (uniform(0, 1, batch, generator, device)[:, None] * (n - width + 1)).long()
    t = torch.arange(n, device=device)[None]
    return (t >= start) & (t < start + width)


class Augmentation:
    """Base class: subclasses set ``domain`` and implement ``__call__``."""

    domain: str = "waveform"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


def _common_domain(augmentations: Sequence[Augmentation]) -> str:
    domains = {aug.domain for aug in augmentations}
    if len(domains) != 1:
        raise ValueError(
            f"cannot mix waveform and spectrogram augmentations in one step: {augmentations}"
        )
    return domains.pop()


@dataclass
class Compose(Augmentation):
    """Apply augmentations one after the other (all of one domain)."""

    augmentations: Sequence[Augmentation]

    def __post_init__(self) -> None:
        self.domain = _common_domain(self.augmentations)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for aug in self.augmentations:
            x = aug(x, generator)
        return x


@dataclass
class RandomApply(Augmentation):
    """Apply ``augmentation`` to each example with probability ``p`` (independently)."""

    augmentation: Augmentation
    p: float = 0.5

    def __post_init__(self) -> None:
        self.domain = self.augmentation.domain

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        chosen = torch.rand(x.shape[0], generator=generator, device=x.device) < self.p
        if not chosen.any():
            return x
        out = x.clone()
        out[chosen] = self.augmentation(x[chosen], generator)
        return out


@dataclass
class OneOf(Augmentation):
    """Apply one of ``augmentations`` to each example, chosen uniformly per example."""

    augmentations: Sequence[Augmentation]

    def __post_init__(self) -> None:
        self.domain = _common_domain(self.augmentations)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        choice = torch.randint(
            len(self.augmentations), (x.shape[0],), generator=generator, device=x.device
        )
        out = x.clone()
        for k, aug in enumerate(self.augmentations):
            chosen = choice == k
            if chosen.any():
                out[chosen] = aug(x[chosen], generator)
        return out
