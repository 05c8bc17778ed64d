"""Collectives over the processes of a DDP run; the identity in a single process.

The leaf every layer may use (it imports torch only): the size of the run and this
process's rank, and the gathers that give every process the rows of all processes,
in rank order, with or without gradient. The public names are documented, and
imported, from :mod:`skaudio.distributed`; the criteria of :mod:`skaudio.losses`
gather through them when their ``gather_distributed`` flag is on. Why the gradients
through :func:`gather_with_grad` equal a single process's: :ref:`scale-distributed`.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings

import torch
import torch.distributed as dist

__all__ = ["gather", "gather_with_grad", "is_distributed", "rank", "world_size"]


def world_size() -> int:
    """Number of processes of the default process group; 1 when not distributed.

    Returns
    -------
    world_size : int

    Examples
    --------
    >>> from skaudio.distributed import is_distributed, rank, world_size
    >>> world_size(), rank(), is_distributed()  # a plain Python process
    (1, 0, False)
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank() -> int:
    """Rank of this process in the default process group; 0 when not distributed.

    Returns
    -------
    rank : int
        Between 0 and ``world_size() - 1``.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


def is_distributed() -> bool:
    """Whether torch.distributed is initialised with more than one process.

    Returns
    -------
    distributed : bool
    """
    return world_size() > 1


def _autograd_collective(name: str, *args):
    """Call the autograd-aware collective ``torch.distributed.nn.functional.<name>``.

    Recent torch versions (2.13 at least) deprecate these with a FutureWarning in favour
    of the private ``torch.distributed._functional_collectives``; they stay the public,
    backend-agnostic API (their backward works with gloo too, torch 2.1 has them), so
    the warning is silenced here only.
    """
    from torch.distributed.nn import functional

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"torch\.distributed\.nn\.functional", category=FutureWarning
        )
        return getattr(functional, name)(*args)


#: whether every process is known to gather tensors of the same shape (see _equal_shards)
_EQUAL_SHARDS = contextvars.ContextVar("skaudio_equal_shards", default=False)


@contextlib.contextmanager
def _equal_shards(equal: bool = True):
    """Within it, :func:`_gather` trusts that every process passes the same shape.

    For callers that guarantee equal shards (a training step under accelerate with
    ``even_batches``): no shape exchange, hence no host synchronisation, per gather.
    """
    token = _EQUAL_SHARDS.set(bool(equal))
    try:
        yield
    finally:
        _EQUAL_SHARDS.reset(token)


def _gather(
    tensor: torch.Tensor, with_grad: bool, equal_shapes: bool | None = None
) -> torch.Tensor:
    """All-gather rows of any number per rank: pad to the largest shard, trim after.

    With ``equal_shapes`` (``None``: inside :func:`_equal_shards`), every rank is
    trusted to pass the same shape: the shapes are not exchanged (one collective and
    a host synchronisation fewer); a rank with another shape would then make the
    collective fail or hang instead of raising the ValueError below.
    """
    if equal_shapes is None:
        equal_shapes = _EQUAL_SHARDS.get()
    if equal_shapes:
        sizes = [tensor.shape[0]] * world_size()
    else:
        shape = torch.tensor(tensor.shape, device=tensor.device)
        shapes = [torch.empty_like(shape) for _ in range(world_size())]
        dist.all_gather(shapes, shape)  # one tiny collective, and a host sync for the sizes
        shapes = [tuple(s.tolist()) for s in shapes]
        if any(s[1:] != tuple(tensor.shape[1:]) for s in shapes):
            raise ValueError(
                "gathering needs the same shape apart from the batch dimension in every "
                f"process; got shapes {shapes} (rank order)"
            )
        sizes = [s[0] for s in shapes]
    largest = max(sizes)
    if largest == 0:
        return tensor[:0]
    if tensor.shape[0] < largest:
        padding = tensor.new_zeros((largest - tensor.shape[0], *tensor.shape[1:]))
        tensor = torch.cat([tensor, padding])
    if with_grad:
        pieces = _autograd_collective("all_gather", tensor)
    else:
        tensor = tensor.detach().contiguous()
        pieces = [torch.empty_like(tensor) for _ in sizes]
        dist.all_gather(pieces, tensor)
    return torch.cat([piece[:size] for piece, size in zip(pieces, sizes, strict=True)])


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    r"""The rows of every process, in rank order, with gradients flowing back to each.

    Every process of a DDP run must call it (it is a collective), in the same order.
    The result is identical in every process; its backward sums the gradients that
    every process computes for each shard (``torch.distributed.nn.functional.all_gather``,
    whose backward is a reduce-scatter, or an all-to-all and a sum with gloo). So when
    every process computes the same global loss :math:`L` from the gathered rows, the
    local rows of each process receive :math:`W \, \partial L / \partial x`, ``W``
    times their true gradient, and DDP's averaging of the parameter gradients over the
    ``W`` processes restores exactly the single-process gradient.

    Shards of different sizes are allowed (the sizes are gathered first, the shards
    padded to the largest and trimmed after), at the cost of one small extra
    collective and a host synchronisation per call. The trailing dimensions must
    agree. In a single process it returns ``tensor`` itself.

    Parameters
    ----------
    tensor : Tensor of shape (batch, ...)
        The local rows; ``batch`` may differ between processes.

    Returns
    -------
    gathered : Tensor of shape (total_batch, ...)
        The rows of rank 0, then rank 1, ...; ``total_batch`` is the sum of the batch
        sizes (``world_size * batch`` for equal shards).

    Raises
    ------
    ValueError
        If the shapes differ between processes in a dimension other than the first.

    See Also
    --------
    gather : The same without gradient, e.g. for labels.

    Examples
    --------
    >>> import torch
    >>> from skaudio.distributed import gather_with_grad
    >>> x = torch.randn(4, 8, requires_grad=True)
    >>> gather_with_grad(x) is x  # a single process: the identity
    True
    """
    if not is_distributed():
        return tensor
    return _gather(tensor, with_grad=True)


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """The rows of every process, in rank order, without gradient (e.g. integer labels).

    A collective like :func:`gather_with_grad`; the result is detached. Shards of
    different sizes are allowed. In a single process it returns ``tensor`` detached.

    Parameters
    ----------
    tensor : Tensor of shape (batch, ...)
        The local rows, of any dtype.

    Returns
    -------
    gathered : Tensor of shape (total_batch, ...)
        The rows of rank 0, then rank 1, ...

    Examples
    --------
    >>> import torch
    >>> from skaudio.distributed import gather
    >>> gather(torch.tensor([0, -1, 2]))
    tensor([ 0, -1,  2])
    """
    if not is_distributed():
        return tensor.detach()
    return _gather(tensor, with_grad=False)
