"""What every augmentation is, and how augmentations compose.

An augmentation is a callable ``aug(x, generator) -> Tensor`` that transforms a batch
and draws every random choice from ``generator`` (never the global RNG), with
independent parameters for each example of the batch. ``domain`` says what it expects:
``"waveform"``, ``(batch, n_samples)``, or ``"spectrogram"``, ``(batch, n_mels,
n_frames)`` log-mel in dB. Augmentations are small dataclasses, so they print their
parameters, compare equal by value, and clone and grid-search as estimator parameters.

Two execution paths, chosen per call by :func:`uses_static_shapes`: on the CPU (the
default there), :class:`RandomApply` and :class:`OneOf` gather the chosen examples and
augment only them (less work, and reading a CPU tensor costs nothing); anywhere else
(CUDA, or inside :func:`static_shapes`), every augmentation runs on the whole batch
with shapes known in advance, and the chosen rows are selected with ``torch.where``,
so that a training step never waits for the device to tell the host a value.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch

__all__ = [
    "Augmentation",
    "Compose",
    "OneOf",
    "RandomApply",
    "static_shapes",
    "uniform",
    "uses_static_shapes",
]

#: None: static shapes when the input is not on the CPU; True/False: forced
_STATIC_SHAPES: ContextVar[bool | None] = ContextVar("skaudio_static_shapes", default=None)


@contextmanager
def static_shapes(enabled: bool | None = True) -> Iterator[None]:
    """Force the static-shape (sync-free) path of the augmentations on or off.

    By default (``None``, "auto") augmentations use static shapes when their input
    is not on the CPU: :class:`RandomApply` and :class:`OneOf` augment the whole
    batch and keep the chosen rows with ``torch.where`` instead of gathering them
    after reading a mask on the host, :class:`~skaudio.augment.NoiseInjection` picks
    its random colour on the device, and the phase vocoder of
    :class:`~skaudio.augment.TimeStretch` and :class:`~skaudio.augment.PitchShift`
    sizes its output from the parameter range instead of the drawn rates, and
    overlap-adds without :func:`torch.istft` (whose window check reads the device).
    No augmentation then makes the host wait for the device, which keeps a CUDA
    training step asynchronous. On the CPU a host read costs nothing and a gather
    computes less, so the CPU keeps the gather path, and its random streams.

    The static path draws the parameters of every example, chosen or not, so with
    the same generator its outputs differ from the gather path's (the distribution
    of each augmented example is the same); the CPU and CUDA streams differ anyway,
    their generators being different. It costs an augmentation of every example
    (twice the work of the gather path at ``p=0.5``, cheap next to a sync on a GPU),
    and a phase vocoder sized for the slowest rate of the range. An augmentation
    that uses the batch itself (:class:`~skaudio.augment.BatchStandardize`'s
    statistics, :class:`~skaudio.augment.LogMixupExp`'s partners) sees, inside
    :class:`RandomApply` or :class:`OneOf`, the whole batch instead of the chosen
    examples.

    Parameters
    ----------
    enabled : bool or None, default=True
        ``True`` forces the static path (also on the CPU: what tests use), ``False``
        the gather path (also on a GPU), ``None`` restores "auto".

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import Gain, RandomApply, static_shapes, uses_static_shapes
    >>> x = torch.randn(6, 800, generator=torch.Generator().manual_seed(0))
    >>> uses_static_shapes(x)
    False
    >>> with static_shapes():
    ...     out = RandomApply(Gain(6.0), p=0.5)(x, torch.Generator().manual_seed(0))
    ...     uses_static_shapes(x)
    True
    >>> (out != x).any(dim=1).tolist()  # the same coins as the gather path
    [True, False, True, True, True, False]
    """
    token = _STATIC_SHAPES.set(enabled)
    try:
        yield
    finally:
        _STATIC_SHAPES.reset(token)


def uses_static_shapes(x: torch.Tensor) -> bool:
    """Whether augmenting ``x`` now takes the static-shape path (see :func:`static_shapes`).

    Parameters
    ----------
    x : Tensor
        The batch about to be augmented.

    Returns
    -------
    static : bool
        The setting of the enclosing :func:`static_shapes`, or, outside one (auto),
        whether ``x`` is not on the CPU.
    """
    enabled = _STATIC_SHAPES.get()
    return x.device.type != "cpu" if enabled is None else bool(enabled)


def _select(chosen: torch.Tensor, augmented: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Row ``i`` of ``augmented`` where ``chosen[i]``, else of ``x``: no host read."""
    return torch.where(chosen.view(-1, *(1,) * (x.ndim - 1)), augmented.to(x.dtype), x)


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


class _RenamedAugmentation(type):
    """The type of an augmentation's former name (see :func:`renamed_augmentation`)."""

    def __call__(cls, *args, **kwargs):
        new = cls.renamed_to
        warnings.warn(
            f"{cls.__name__} was renamed {new.__name__} in {cls.renamed_in} and will be "
            f"removed in {cls.removed_in}: use {new.__module__.rpartition('.')[0]}."
            f"{new.__name__}",
            FutureWarning,
            stacklevel=2,
        )
        return new(*args, **kwargs)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, cls.renamed_to)

    def __subclasscheck__(cls, subclass) -> bool:
        return issubclass(subclass, cls.renamed_to)


def renamed_augmentation(old_name: str, new: type, module: str) -> type:
    """A deprecated former name of the augmentation class ``new``.

    Calling it warns with a ``FutureWarning`` and returns a ``new`` instance, so its
    objects print, compare equal and pickle as ``new``'s; ``isinstance`` checks
    against it test for ``new``. Objects pickled under the former name (pickle
    protocol 2 or later, as joblib and torch write them) unpickle as ``new``.

    Examples
    --------
    >>> import pickle, warnings
    >>> from dataclasses import dataclass
    >>> from skaudio.augment._base import Augmentation, renamed_augmentation
    >>> @dataclass
    ... class Louder(Augmentation):
    ...     db: float = 3.0
    >>> Loud = renamed_augmentation("Loud", Louder, __name__)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     aug = Loud(6.0)
    >>> aug, aug == Louder(6.0), isinstance(aug, Loud), caught[0].category.__name__
    (Louder(db=6.0), True, True, 'FutureWarning')
    """

    def __new__(cls, *args, **kwargs):  # unpickling calls Old.__new__(Old): a new object
        return new.__new__(new)

    namespace = {
        "__new__": __new__,
        "__module__": module,
        "__qualname__": old_name,
        "__doc__": f"Deprecated former name of :class:`{new.__name__}` (removed in 0.4).",
        "renamed_to": new,
        "renamed_in": "0.2",
        "removed_in": "0.4",
    }
    return _RenamedAugmentation(old_name, (), namespace)


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
    On the CPU the chosen examples are gathered and only they are augmented; on
    another device (or inside :func:`static_shapes`) the whole batch is augmented and
    the chosen rows kept with ``torch.where``, which never reads the coins on the
    host (see :func:`static_shapes`). The coins are the same on both paths; the
    augmentation's own draws then cover the whole batch.

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
        if uses_static_shapes(x):
            if self.p <= 0:  # nothing chosen, as the gather path finds
                return x
            return _select(chosen, self.augmentation(x, generator), x)
        if not chosen.any():
            return x
        out = x.clone()
        out[chosen] = self.augmentation(x[chosen], generator)
        return out


@dataclass
class OneOf(Augmentation):
    """Apply one of ``augmentations`` to each example, chosen uniformly per example.

    Call it as ``aug(x, generator)``: every example of the batch is given to exactly one
    of the augmentations, drawn uniformly and independently for each example. On the
    CPU each augmentation gets the examples that chose it, gathered; on another
    device (or inside :func:`static_shapes`) each augments the whole batch and the
    rows that chose it are kept with ``torch.where`` (see :func:`static_shapes`).

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
        if uses_static_shapes(x):
            out = x
            for k, aug in enumerate(self.augmentations):
                out = _select(choice == k, aug(x, generator), out)
            return out
        out = x.clone()
        for k, aug in enumerate(self.augmentations):
            chosen = choice == k
            if chosen.any():
                out[chosen] = aug(x[chosen], generator)
        return out
