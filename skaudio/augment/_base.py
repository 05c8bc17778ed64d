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
    """Base class of all augmentations: subclasses set ``domain`` and implement ``__call__``.

    An augmentation is called as ``aug(x, generator)`` on a whole batch and returns a
    new tensor of the same shape. It draws every random choice from ``generator``
    (never from the global random state), independently for each example of the
    batch, so the same generator state gives the same output. Subclasses are usually
    small dataclasses whose fields are the parameters, which makes them print their
    parameters, compare equal by value, and clone like estimator parameters.

    Attributes
    ----------
    domain : {"waveform", "spectrogram"}
        What the augmentation expects: ``"waveform"``, a batch of shape
        ``(batch, n_samples)``, or ``"spectrogram"``, a log-mel batch of shape
        ``(batch, n_mels, n_frames)`` in dB.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import Augmentation
    >>> class RandomPolarity(Augmentation):
    ...     def __call__(self, x, generator):
    ...         sign = torch.randint(2, (x.shape[0], 1), generator=generator) * 2 - 1
    ...         return x * sign
    >>> RandomPolarity()(torch.ones(4, 3), torch.Generator().manual_seed(0))[:, 0].tolist()
    [-1.0, 1.0, 1.0, -1.0]
    """

    domain: str = "waveform"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a batch.

        Parameters
        ----------
        x : Tensor of shape (batch, n_samples) or (batch, n_mels, n_frames)
            A batch of waveforms, or of log-mel spectrograms in dB, as ``domain`` says.
        generator : torch.Generator
            Source of every random choice, on the device of ``x``.

        Returns
        -------
        augmented : Tensor of the same shape and dtype as ``x``
            The augmented batch; ``x`` itself is not modified in place.
        """
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
    """Apply augmentations one after the other (all of one domain).

    Call it as ``aug(x, generator)``: each augmentation in turn transforms the output
    of the previous one, drawing from the same generator.

    Parameters
    ----------
    augmentations : sequence of Augmentation
        Applied in order; all must have the same ``domain``, which becomes the
        domain of the composition.

    Raises
    ------
    ValueError
        If waveform and spectrogram augmentations are mixed.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import Compose, Gain, TimeShift
    >>> aug = Compose([Gain(6.0), TimeShift(0.25)])
    >>> x = torch.randn(4, 800, generator=torch.Generator().manual_seed(0))
    >>> out = aug(x, torch.Generator().manual_seed(0))
    >>> aug.domain, out.shape, torch.equal(out, x)
    ('waveform', torch.Size([4, 800]), False)
    """

    augmentations: Sequence[Augmentation]

    def __post_init__(self) -> None:
        self.domain = _common_domain(self.augmentations)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for aug in self.augmentations:
            x = aug(x, generator)
        return x


@dataclass
class RandomApply(Augmentation):
    """Apply ``augmentation`` to each example with probability ``p`` (independently).

    Call it as ``aug(x, generator)``: a coin is tossed for every example of the batch,
    the chosen examples are augmented together and the others are returned unchanged.

    Parameters
    ----------
    augmentation : Augmentation
        The augmentation to apply; its ``domain`` is this one's.
    p : float, default=0.5
        Probability that an example is augmented.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import Gain, RandomApply
    >>> aug = RandomApply(Gain(6.0), p=0.5)
    >>> x = torch.randn(6, 800, generator=torch.Generator().manual_seed(0))
    >>> out = aug(x, torch.Generator().manual_seed(0))
    >>> out.shape, (out != x).any(dim=1).tolist()  # which examples were augmented
    (torch.Size([6, 800]), [True, False, True, True, True, False])
    """

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
    """Apply one of ``augmentations`` to each example, chosen uniformly per example.

    Call it as ``aug(x, generator)``: every example of the batch is given to exactly one
    of the augmentations, drawn uniformly and independently for each example.

    Parameters
    ----------
    augmentations : sequence of Augmentation
        The alternatives; all must have the same ``domain``, which becomes this one's.

    Raises
    ------
    ValueError
        If waveform and spectrogram augmentations are mixed.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import FrequencyFlip, OneOf, TimeReversal
    >>> aug = OneOf([TimeReversal(), FrequencyFlip()])
    >>> x = torch.randn(4, 16, 20, generator=torch.Generator().manual_seed(0))
    >>> out = aug(x, torch.Generator().manual_seed(0))
    >>> aug.domain, out.shape, [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)]
    ('spectrogram', torch.Size([4, 16, 20]), [True, False, False, True])
    """

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
