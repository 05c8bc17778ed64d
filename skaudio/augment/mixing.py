"""Mixing augmentations: each clip of a batch mixed with another clip of the batch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._base import Augmentation, uniform

__all__ = ["LogMixupExp"]

_DB_TO_NATS = math.log(10.0) / 10.0  # power in dB -> natural log of power


@dataclass
class LogMixupExp(Augmentation):
    r"""Mix each log-mel clip, in the power domain, with another clip of the batch.

    BYOL-A's log-mixup-exp (Niizumi et al., 2021): with :math:`x` a log-mel clip in
    dB, :math:`m` the clip it is mixed with and :math:`\lambda \sim U(0, \text{ratio})`
    drawn per clip,

    .. math::

        y = 10 \log_{10}\left((1 - \lambda)\, 10^{x / 10} + \lambda\, 10^{m / 10}\right),

    so the background of another sound is added to the view while the clip stays
    dominant. Unlike BYOL-A's memory bank of past batches, ``m`` is another clip of the
    same batch (a random permutation drawn from ``generator``, re-drawn for each view):
    the augmentation holds no state (see :ref:`guide-contrastive`). A batch of one clip is
    returned unchanged. Call it as ``aug(x, generator)`` with a log-mel batch ``x`` of
    shape ``(batch, n_mels, n_frames)`` in dB; the output has the same shape.

    Parameters
    ----------
    ratio : float, default=0.4
        Largest weight :math:`\lambda` of the other clip (BYOL-A uses 0.2-0.4); in
        [0, 1).

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import LogMixupExp
    >>> x = torch.tensor([[[0.0]], [[-100.0]]])  # a loud clip and a near-silent one
    >>> out = LogMixupExp(ratio=0.4)(x, torch.Generator().manual_seed(0))
    >>> bool(-2.3 < out[0, 0, 0] <= 0.0), bool(out[1, 0, 0] > -100.0)  # loud barely moves
    (True, True)
    """

    ratio: float = 0.4
    domain = "spectrogram"

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"ratio must be in [0, 1), got {self.ratio}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch = x.shape[0]
        if batch < 2:
            return x.clone()
        # a partner other than the clip itself: shift a random permutation's cycle
        order = torch.randperm(batch, generator=generator, device=x.device)
        partner = torch.empty_like(order)
        partner[order] = order.roll(1)
        weight = uniform(0.0, self.ratio, batch, generator, x.device)[:, None, None]
        # log((1 - w) e^a + w e^b), in nats, computed stably with logaddexp
        a = x.float() * _DB_TO_NATS
        b = a[partner]
        mixed = torch.logaddexp(a + torch.log1p(-weight), b + torch.log(weight.clamp_min(1e-30)))
        mixed = torch.where(weight > 0, mixed, a)
        return (mixed / _DB_TO_NATS).to(x.dtype)
