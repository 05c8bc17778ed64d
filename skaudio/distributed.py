"""Multi-process (DDP) pretraining: negatives and batch norm over the global batch.

When pretraining runs in ``W`` processes (PyTorch DDP, launched by ``accelerate
launch`` or ``torchrun``), each process sees a shard of the global batch. Contrastive
methods need their negatives from the whole global batch, and batch norm its
statistics, for training to equal a single process on the global batch. This module
gives the pieces:

- :func:`gather_with_grad` and :func:`gather`: the rows of every process, in rank
  order, with or without gradient (used by :class:`skaudio.models.COLAModel` and
  :class:`skaudio.losses.NTXentCriterion`);
- :class:`GlobalBatchNorm1d` / :class:`GlobalBatchNorm2d` / :class:`GlobalBatchNorm3d`
  and :func:`convert_sync_batchnorm`: batch norm over the global batch that also runs
  on CPUs (gloo); given a CUDA device in an NCCL process group,
  :func:`convert_sync_batchnorm` uses torch's ``SyncBatchNorm`` instead;
- :func:`distributed_net_class`: :class:`skaudio.training.SelfSupervisedNet` trained
  through skorch's ``AccelerateMixin`` (needs the optional ``accelerate``), and
  :func:`to_plain_net` to pickle the result.

Everything is the identity (or plain batch norm) in a single process, so the models
and criteria behave exactly as before when nothing is distributed.

Why the gradients are exact. Every process gathers the embeddings of all processes and
computes the same, global contrastive loss ``L``. The backward of the gather sums the
gradients that every process sends to each shard, so the local embeddings of rank
``r`` receive ``W * dL/d(embeddings of r)``; DDP then averages the parameter gradients
over the ``W`` processes, which gives exactly the single-process gradient. Terms that
stay local (the frame-level and pitch-shift losses of multi-strategy COLA) are means
over each shard: with equal shards, the mean over ranks of the per-rank losses (what
is logged, averaged) and DDP's averaged gradient equal those of a single process.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import warnings

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    "GlobalBatchNorm",
    "GlobalBatchNorm1d",
    "GlobalBatchNorm2d",
    "GlobalBatchNorm3d",
    "convert_sync_batchnorm",
    "distributed_net_class",
    "gather",
    "gather_with_grad",
    "global_batch_accelerator",
    "is_distributed",
    "join_processes",
    "rank",
    "to_plain_net",
    "world_size",
]

_INSTALL_HINT = 'distributed pretraining needs accelerate: pip install "skaudio[distributed]"'


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


class GlobalBatchNorm(_BatchNorm):
    """Batch norm whose training statistics are those of the global batch of all processes.

    Same parameters, buffers and ``state_dict`` as torch's batch norm. In training mode
    in a distributed run, the mean and the (biased) variance that normalise the input
    are those of the global batch: per channel, the count and the sum of every process
    are all-reduced to the global mean, then the sums of squared deviations from it to
    the global variance (two passes, in float64, rather than the less stable sum of
    squares). Both all-reduces are autograd-aware
    (``torch.distributed.nn.functional.all_reduce``, whose backward all-reduces the
    gradients), so the gradients equal those of batch norm on the global batch in
    one process. ``running_mean`` and ``running_var`` are updated, as by batch norm,
    with the global mean and the *unbiased* global variance and with ``momentum``
    (or the cumulative average when ``momentum`` is ``None``). Processes may hold
    batches of different sizes.

    Otherwise (evaluation mode, or a single process) it runs torch's batch norm
    itself (``super().forward``) and matches it exactly. It holds no process group or
    other state, so it pickles, and unpickled into a single process it behaves as
    plain batch norm.

    Why not ``torch.nn.SyncBatchNorm``: its training forward refuses CPU tensors (it
    needs CUDA kernels), so it cannot run multi-process CPU training with gloo. On CUDA
    with NCCL, where it runs with fused kernels, :func:`convert_sync_batchnorm` given
    the device picks it instead.

    Use :class:`GlobalBatchNorm1d`, :class:`GlobalBatchNorm2d` or
    :class:`GlobalBatchNorm3d`, usually through :func:`convert_sync_batchnorm`; this
    base class accepts inputs of any dimension from 2 up.

    Parameters
    ----------
    num_features : int
        Number of channels ``C``.
    eps : float, default=1e-5
    momentum : float or None, default=0.1
    affine : bool, default=True
    track_running_stats : bool, default=True
        As for :class:`torch.nn.BatchNorm2d`.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skaudio.distributed import GlobalBatchNorm2d
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(4, 3, 5, 5)  # (batch, channels, height, width)
    >>> plain, global_ = nn.BatchNorm2d(3), GlobalBatchNorm2d(3)
    >>> torch.equal(global_(x), plain(x))  # not distributed: plain batch norm
    True
    >>> torch.equal(global_.running_var, plain.running_var), isinstance(global_, nn.BatchNorm2d)
    (True, True)
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise per channel.

        Parameters
        ----------
        input : Tensor of shape (batch, C, ...)

        Returns
        -------
        output : Tensor of shape (batch, C, ...)
            Same shape and dtype as ``input``.
        """
        if not (self.training and is_distributed()):
            return super().forward(input)
        self._check_input_dim(input)
        return self._global_forward(input, self._running_stats_factor())

    def _running_stats_factor(self) -> float:
        """Count the batch and give the weight of its statistics, as batch norm does."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        return factor

    def _global_forward(self, input: torch.Tensor, factor: float) -> torch.Tensor:
        low_precision = input.dtype in (torch.float16, torch.bfloat16)
        x = input.float() if low_precision else input
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        local_count = x.numel() // max(x.shape[1], 1)
        # pass 1: global count and sum -> mean (the count rides along, without gradient)
        sums = torch.cat(
            [x.sum(dims, dtype=torch.float64), x.new_full((1,), local_count, dtype=torch.float64)]
        )
        totals = _autograd_collective("all_reduce", sums)
        count = totals[-1].detach()
        if local_count <= 1 and int(count) <= 1:  # only then is a host sync worth it
            raise ValueError(
                "Expected more than 1 value per channel when training, got input size "
                f"{tuple(input.shape)} on this process and {int(count)} values in all"
            )
        mean = totals[:-1] / count
        centred = x - mean.to(x.dtype).view(shape)
        # pass 2: global sum of squared deviations -> biased variance
        squares = centred.square().sum(dims, dtype=torch.float64)
        var = _autograd_collective("all_reduce", squares) / count
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                unbiased = var * (count / (count - 1))
                new_mean = (1 - factor) * self.running_mean + factor * mean
                new_var = (1 - factor) * self.running_var + factor * unbiased
                self.running_mean.copy_(new_mean)
                self.running_var.copy_(new_var)
        output = centred * torch.rsqrt(var + self.eps).to(x.dtype).view(shape)
        if self.weight is not None:
            output = output * self.weight.view(shape)
        if self.bias is not None:
            output = output + self.bias.view(shape)
        return output.to(input.dtype)


class GlobalBatchNorm1d(GlobalBatchNorm, nn.BatchNorm1d):
    """:class:`GlobalBatchNorm` for ``(batch, C)`` or ``(batch, C, length)`` input.

    A :class:`torch.nn.BatchNorm1d` (``isinstance`` holds) with the global statistics
    of :class:`GlobalBatchNorm` in distributed training.
    """

    _check_input_dim = nn.BatchNorm1d._check_input_dim


class GlobalBatchNorm2d(GlobalBatchNorm, nn.BatchNorm2d):
    """:class:`GlobalBatchNorm` for ``(batch, C, height, width)`` input.

    A :class:`torch.nn.BatchNorm2d` (``isinstance`` holds) with the global statistics
    of :class:`GlobalBatchNorm` in distributed training.
    """

    _check_input_dim = nn.BatchNorm2d._check_input_dim


class GlobalBatchNorm3d(GlobalBatchNorm, nn.BatchNorm3d):
    """:class:`GlobalBatchNorm` for ``(batch, C, depth, height, width)`` input.

    A :class:`torch.nn.BatchNorm3d` (``isinstance`` holds) with the global statistics
    of :class:`GlobalBatchNorm` in distributed training.
    """

    _check_input_dim = nn.BatchNorm3d._check_input_dim


_GLOBAL_VERSIONS = {
    nn.BatchNorm1d: GlobalBatchNorm1d,
    nn.BatchNorm2d: GlobalBatchNorm2d,
    nn.BatchNorm3d: GlobalBatchNorm3d,
}


def _to_global(module: nn.Module) -> nn.Module:
    """A GlobalBatchNorm sharing ``module``'s parameters and buffers, or ``module``."""
    if isinstance(module, GlobalBatchNorm):
        return module
    global_class = next(
        (version for plain, version in _GLOBAL_VERSIONS.items() if isinstance(module, plain)),
        None,
    )
    if global_class is None:
        return module
    converted = global_class(
        module.num_features,
        eps=module.eps,
        momentum=module.momentum,
        affine=module.affine,
        track_running_stats=module.track_running_stats,
    )
    # share, not copy: an optimizer built on the old module keeps training the new one
    for name in ("weight", "bias"):
        setattr(converted, name, getattr(module, name))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        setattr(converted, name, getattr(module, name))
    if hasattr(module, "qconfig"):
        converted.qconfig = module.qconfig
    return converted.train(module.training)


def _uses_torch_sync_batchnorm(device: torch.device | str | None, backend: str | None) -> bool:
    """Whether batch norms on ``device`` with ``backend`` become ``torch.nn.SyncBatchNorm``.

    Only on a CUDA device with the NCCL backend: there, ``SyncBatchNorm``'s fused CUDA
    kernels gather the statistics in one collective forward and one backward per
    layer, where :class:`GlobalBatchNorm` needs two float64 all-reduces each way.
    Everywhere else (CPU processes with gloo, no device, no process group)
    :class:`GlobalBatchNorm`, since ``SyncBatchNorm`` refuses to train on CPU tensors.

    Parameters
    ----------
    device : torch.device, str or None
        The process's training device.
    backend : str or None
        The process group's backend (``torch.distributed.get_backend()``), or None
        when there is none.

    Returns
    -------
    torch_sync : bool

    Examples
    --------
    >>> from skaudio.distributed import _uses_torch_sync_batchnorm as torch_sync
    >>> torch_sync("cuda:1", "nccl"), torch_sync("cpu", "gloo"), torch_sync("cuda", "gloo")
    (True, False, False)
    """
    if device is None or backend is None:
        return False
    return torch.device(device).type == "cuda" and str(backend).lower() == "nccl"


def _process_group_backend() -> str | None:
    if dist.is_available() and dist.is_initialized():
        return str(dist.get_backend())
    return None


def convert_sync_batchnorm(
    module: nn.Module, device: torch.device | str | None = None
) -> nn.Module:
    """Replace every batch norm of a module tree by one over the global batch.

    ``BatchNorm1d/2d/3d`` become :class:`GlobalBatchNorm` (1d/2d/3d), or, on a CUDA
    ``device`` in a process group with the NCCL backend, ``torch.nn.SyncBatchNorm``
    (fused CUDA kernels, where ``GlobalBatchNorm`` needs two float64 all-reduces each
    way per layer). The replacements share the originals' parameters and buffers
    (weights, running statistics, ``num_batches_tracked``) and keep ``eps``,
    ``momentum``, ``affine``, ``track_running_stats`` and the training mode, so the
    ``state_dict`` is unchanged (same keys and values) and checkpoints load either way.
    Outside distributed training either kind computes what the original did. Call it
    after the process group is set up (for the NCCL choice) and before wrapping the
    model in DDP (or preparing it with accelerate).

    Parameters
    ----------
    module : nn.Module
        Converted in place; may itself be a batch norm.
    device : torch.device, str or None, default=None
        Where the process trains; None (or no process group yet) gives
        :class:`GlobalBatchNorm`.

    Returns
    -------
    module : nn.Module
        ``module``, or its replacement when it is itself a batch norm.

    See Also
    --------
    torch.nn.SyncBatchNorm.convert_sync_batchnorm : What a CUDA device with NCCL uses.

    Examples
    --------
    >>> import torch
    >>> from skaudio.distributed import GlobalBatchNorm2d, convert_sync_batchnorm
    >>> from skaudio.encoders import CNNEncoder
    >>> _ = torch.manual_seed(0)
    >>> encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    >>> keys = list(encoder.state_dict())
    >>> encoder = convert_sync_batchnorm(encoder, device="cpu")
    >>> sum(isinstance(m, GlobalBatchNorm2d) for m in encoder.modules())
    2
    >>> list(encoder.state_dict()) == keys
    True
    """
    if _uses_torch_sync_batchnorm(device, _process_group_backend()):
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_to_global(module)


def _convert_to_global(module: nn.Module) -> nn.Module:
    converted = _to_global(module)
    if converted is not module:
        return converted
    for name, child in module.named_children():
        new_child = _convert_to_global(child)
        if new_child is not child:
            setattr(module, name, new_child)
    return module


def _has_trainable_parameters(module: object) -> bool:
    return isinstance(module, nn.Module) and any(p.requires_grad for p in module.parameters())


@functools.cache
def _net_class() -> type:
    from skorch.hf import AccelerateMixin

    from .training import SelfSupervisedNet

    class DistributedSelfSupervisedNet(AccelerateMixin, SelfSupervisedNet):
        """:class:`skaudio.training.SelfSupervisedNet` trained through accelerate (DDP).

        skorch's ``AccelerateMixin`` over :class:`~skaudio.training.SelfSupervisedNet`:
        pass ``accelerator=accelerate.Accelerator(...)`` and ``device=None``. Models
        built with :func:`gather_with_grad` and :func:`convert_sync_batchnorm` then
        train as on the global batch. Two changes to the mixin:

        - criteria without trainable parameters (all of :mod:`skaudio.losses`) are not
          prepared by the accelerator, only moved to its device: accelerate wraps every
          prepared module in DDP on multi-CPU runs, and DDP refuses a module without
          parameters;
        - ``accelerator.even_batches`` must stay ``True`` (accelerate's default) in a
          distributed run: otherwise processes may run different numbers of steps and
          wait forever in each other's collectives;
        - the net's ``precision`` must stay ``"fp32"``: mixed precision is the
          accelerator's (its ``mixed_precision``), so that autocast wraps the forward
          pass once.

        The prepared data loader gives each process ``batch_size`` rows per step (the
        global batch is ``world_size * batch_size``) and, with ``even_batches``, the
        same number of full batches: the last global batch is completed with the first
        rows of the dataset (``iterator_train__drop_last=True`` drops it instead).
        """

        def _initialize_accelerator(self):
            if self._wrapped_with_accelerator:
                return self
            criteria = list(self._criteria)
            skipped = [n for n in criteria if not _has_trainable_parameters(getattr(self, n + "_"))]
            for name in skipped:
                criterion = getattr(self, name + "_")
                if isinstance(criterion, nn.Module) and self.accelerator.device_placement:
                    criterion.to(self.accelerator.device)
            self._criteria = [n for n in criteria if n not in skipped]
            try:
                return super()._initialize_accelerator()
            finally:
                self._criteria = criteria

        def _validate_params(self):
            super()._validate_params()
            if self.accelerator.num_processes > 1 and not self.accelerator.even_batches:
                raise ValueError(
                    "distributed pretraining needs even_batches=True in the accelerator's "
                    "DataLoaderConfiguration: with uneven batches, processes run different "
                    "numbers of steps and deadlock in the gathers of the loss"
                )
            if self._precision != "fp32":
                raise ValueError(
                    f"precision={self._precision!r} with accelerate: leave the net's "
                    "precision at 'fp32' and pass mixed_precision to the Accelerator"
                )

    DistributedSelfSupervisedNet.__module__ = __name__
    DistributedSelfSupervisedNet.__qualname__ = "DistributedSelfSupervisedNet"
    return DistributedSelfSupervisedNet


def distributed_net_class() -> type:
    """The class ``DistributedSelfSupervisedNet(AccelerateMixin, SelfSupervisedNet)``.

    Built on first use, since accelerate is an optional dependency (importing skaudio
    does not import it); also available as
    ``skaudio.distributed.DistributedSelfSupervisedNet``. See the class docstring for
    what it changes to skorch's ``AccelerateMixin``.

    Returns
    -------
    net_class : type
        A subclass of :class:`skaudio.training.SelfSupervisedNet` and of
        ``skorch.hf.AccelerateMixin``; pass it ``accelerator=accelerate.Accelerator()``
        and ``device=None``.

    Raises
    ------
    ImportError
        If accelerate is not installed, with the command that installs it.

    See Also
    --------
    to_plain_net : A picklable plain net after training.

    Notes
    -----
    A training script, started with ``accelerate launch --num_processes 2 train.py``
    (add ``--cpu`` for CPU processes) or ``torchrun --nproc-per-node 2 train.py``:

    .. code-block:: python

        from accelerate import Accelerator
        from skaudio.distributed import convert_sync_batchnorm, distributed_net_class
        from skaudio.distributed import to_plain_net

        model = convert_sync_batchnorm(build_model())  # same seed in every process
        net = distributed_net_class()(
            model, criterion=criterion, accelerator=Accelerator(), device=None,
            batch_size=128, train_split=None)  # 128 clips per process and step
        net.fit(dataset, None)
        if net.accelerator.is_main_process:
            joblib.dump(to_plain_net(net), "net.joblib")

    Examples
    --------
    >>> from skaudio.distributed import distributed_net_class
    >>> from skaudio.training import SelfSupervisedNet
    >>> net_class = distributed_net_class()  # needs accelerate
    >>> net_class.__name__, issubclass(net_class, SelfSupervisedNet)
    ('DistributedSelfSupervisedNet', True)
    """
    try:
        import accelerate  # noqa: F401
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return _net_class()


def join_processes(device: str) -> tuple[str, int]:
    """Join the processes of a run started by ``accelerate launch`` or ``torchrun``.

    Sets up the process group from the launcher's environment (accelerate's
    ``PartialState``); a process started alone is a run of one.

    Parameters
    ----------
    device : str
        ``"cpu"`` for CPU processes (gloo); anything else lets accelerate pick this
        process's GPU.

    Returns
    -------
    device : str
        This process's device, e.g. ``"cuda:1"``.
    index : int
        This process's index in the run (0 for the first or only one).

    Raises
    ------
    ImportError
        If accelerate is not installed, with the command that installs it.
    """
    try:
        from accelerate import PartialState
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    state = PartialState(cpu=device == "cpu")
    return str(state.device), state.process_index


def global_batch_accelerator(device: str, batch_size: int, mixed_precision: str = "fp32"):
    """An ``accelerate.Accelerator`` whose data loaders split each batch between processes.

    ``batch_size`` is then the global batch (``split_batches=True``): each of ``W``
    processes takes ``batch_size / W`` rows of every batch, so a run of any size trains
    on the batches one process would.

    Parameters
    ----------
    device : str
        ``"cpu"`` for CPU processes; anything else lets accelerate pick the GPU.
    batch_size : int
        The global batch; a multiple of the number of processes.
    mixed_precision : {"fp32", "bf16", "fp16"}, default="fp32"
        The run's precision, as accelerate's ``mixed_precision`` (``"no"``,
        ``"bf16"``, ``"fp16"``): accelerate then runs the forward pass (and the loss)
        under autocast, with a gradient scaler for ``"fp16"``; skaudio's frontend,
        similarities and losses still compute in float32.

    Returns
    -------
    accelerator : accelerate.Accelerator

    Raises
    ------
    ValueError
        If ``batch_size`` cannot be split evenly between the processes.
    ImportError
        If accelerate is not installed.
    """
    try:
        from accelerate import Accelerator
        from accelerate.utils import DataLoaderConfiguration
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    accelerator = Accelerator(
        cpu=device == "cpu",
        mixed_precision={"fp32": "no"}.get(mixed_precision, mixed_precision),
        dataloader_config=DataLoaderConfiguration(split_batches=True),
    )
    if batch_size % accelerator.num_processes:
        raise ValueError(
            f"batch_size={batch_size} is the global batch: it must be a multiple "
            f"of the {accelerator.num_processes} processes"
        )
    return accelerator


def __getattr__(name: str):
    if name == "DistributedSelfSupervisedNet":
        return distributed_net_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_plain_net(net):
    """A plain, picklable :class:`~skaudio.training.SelfSupervisedNet` of a trained net.

    skorch cannot pickle nets that hold an accelerator. After training (skorch's
    ``AccelerateMixin`` unwraps the modules at the end of ``fit``, with its default
    ``unwrap_after_train=True``), this returns a ``SelfSupervisedNet`` holding the
    same trained module, criterion, optimizer (unwrapped from accelerate's) and
    history, on the module's device, with the net's other settings, but no
    accelerator: it pickles (with ``pickle`` or ``joblib``) and computes what the
    trained net computes. Batch norms converted by :func:`convert_sync_batchnorm` stay
    :class:`GlobalBatchNorm` (or ``torch.nn.SyncBatchNorm`` after CUDA training),
    which outside distributed training is plain batch norm.

    Parameters
    ----------
    net : SelfSupervisedNet
        An initialised (usually trained) net, e.g. a ``DistributedSelfSupervisedNet``
        after ``fit``; a net without accelerator works too.

    Returns
    -------
    plain_net : SelfSupervisedNet
        Shares the module, criterion, optimizer and history with ``net``.

    Raises
    ------
    ValueError
        If ``net`` is not initialised, or its modules are still wrapped by the
        accelerator (``unwrap_after_train=False``).

    Examples
    --------
    >>> import pickle, torch
    >>> from skaudio.distributed import to_plain_net
    >>> from skaudio.heads import BilinearSimilarity
    >>> from skaudio.losses import ContrastiveCrossEntropy
    >>> from skaudio.training import SelfSupervisedNet
    >>> _ = torch.manual_seed(0)
    >>> X = {"anchors": torch.randn(8, 4), "positives": torch.randn(8, 4)}
    >>> net = SelfSupervisedNet(BilinearSimilarity, ContrastiveCrossEntropy, module__dim=4,
    ...                         max_epochs=1, batch_size=8, train_split=None, verbose=0)
    >>> plain = to_plain_net(net.fit(X, None))
    >>> type(plain).__name__, plain.module_ is net.module_, len(plain.history)
    ('SelfSupervisedNet', True, 1)
    >>> restored = pickle.loads(pickle.dumps(plain))
    >>> torch.equal(restored.module_(**X), net.module_(**X))
    True
    """
    from .training import SelfSupervisedNet

    if not getattr(net, "initialized_", False):
        raise ValueError("to_plain_net needs an initialised (trained) net; call fit first")
    if getattr(net, "_wrapped_with_accelerator", False):
        raise ValueError(
            "the net's modules are still wrapped by its accelerator: train with "
            "unwrap_after_train=True (the default), or call net._unwrap_accelerator() first"
        )
    accelerator_params = {"accelerator", "unwrap_after_train", "callbacks__print_log__sink"}
    params = {
        key: value
        for key, value in net.get_params(deep=False).items()
        if key not in accelerator_params and not key.startswith(("_", "module__", "criterion__"))
    }
    module = net.module_
    parameter = next(iter(module.parameters()), None)
    device = str(parameter.device) if parameter is not None else "cpu"
    params.update(module=module, criterion=net.criterion_, device=device)
    plain = SelfSupervisedNet(**params).initialize()
    optimizer = net.optimizer_
    plain.optimizer_ = getattr(optimizer, "optimizer", optimizer)  # AcceleratedOptimizer
    plain.history_ = net.history_
    return plain
