"""Batch norm over the global batch of a multi-process run.

:class:`GlobalBatchNorm1d` / :class:`GlobalBatchNorm2d` / :class:`GlobalBatchNorm3d`
normalise with the statistics of the batches of all processes (all-reduced, with
gradients), and run on CPUs with gloo; :func:`convert_sync_batchnorm` swaps them in
for a model's batch norms (torch's ``SyncBatchNorm`` on a CUDA device in an NCCL
process group). In a single process, or in evaluation mode, they are plain batch
norm. Also importable from :mod:`skaudio.distributed`, the path pickled models refer
to.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from ._collectives import _autograd_collective, is_distributed
from ._compat import _BatchNorm, batch_norm_input_check

__all__: list[str] = []


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

    Unlike ``torch.nn.SyncBatchNorm`` it runs on CPU tensors (gloo); on CUDA with NCCL,
    :func:`convert_sync_batchnorm` given the device picks ``SyncBatchNorm`` instead
    (see :ref:`gpu-several`).

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
    >>> from skaudio.layers import GlobalBatchNorm2d
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

    _check_input_dim = batch_norm_input_check(nn.BatchNorm1d)


class GlobalBatchNorm2d(GlobalBatchNorm, nn.BatchNorm2d):
    """:class:`GlobalBatchNorm` for ``(batch, C, height, width)`` input.

    A :class:`torch.nn.BatchNorm2d` (``isinstance`` holds) with the global statistics
    of :class:`GlobalBatchNorm` in distributed training.
    """

    _check_input_dim = batch_norm_input_check(nn.BatchNorm2d)


class GlobalBatchNorm3d(GlobalBatchNorm, nn.BatchNorm3d):
    """:class:`GlobalBatchNorm` for ``(batch, C, depth, height, width)`` input.

    A :class:`torch.nn.BatchNorm3d` (``isinstance`` holds) with the global statistics
    of :class:`GlobalBatchNorm` in distributed training.
    """

    _check_input_dim = batch_norm_input_check(nn.BatchNorm3d)


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

    Only on a CUDA device with the NCCL backend; everywhere else (CPU processes with
    gloo, no device, no process group) :class:`GlobalBatchNorm`. See :ref:`gpu-several`.

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
    >>> from skaudio.layers import _uses_torch_sync_batchnorm as torch_sync
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
    >>> from skaudio.layers import GlobalBatchNorm2d, convert_sync_batchnorm
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
