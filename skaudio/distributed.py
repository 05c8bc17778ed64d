"""Multi-process (DDP) pretraining through accelerate.

When pretraining runs in ``W`` processes (PyTorch DDP, launched by ``accelerate
launch`` or ``torchrun``), each process sees a shard of the global batch. Contrastive
criteria gather their negatives from the whole global batch (their
``gather_distributed`` flag, through :func:`gather_with_grad` and :func:`gather`), and
batch norms are swapped for ones over the global batch (:func:`convert_sync_batchnorm`),
for training to equal a single process on the global batch. This module trains a net
that way:

- :class:`DistributedSelfSupervisedNet`: :class:`skaudio.training.SelfSupervisedNet`
  trained through skorch's ``AccelerateMixin`` (needs the optional ``accelerate``, as
  skorch's own ``skorch.hf`` does: importing this module does not import it), and
  :func:`to_plain_net` to pickle the result;
- :func:`join_processes` and :func:`global_batch_accelerator`: the process group and
  the accelerator of an estimator's ``distributed=True`` run.

It also re-exports the collectives (:func:`gather_with_grad`, :func:`gather`,
:func:`world_size`, :func:`rank`, :func:`is_distributed`, from the leaf
``skaudio._collectives``) and the batch norms (:class:`GlobalBatchNorm` and its 1d/2d/3d
versions, :func:`convert_sync_batchnorm`, from :mod:`skaudio.layers`) under their
public path, which pickled models refer to.
"""

from __future__ import annotations

from torch import nn

# "X as X": not in __all__, kept at their old public path (which pickled models refer to)
from ._collectives import gather as gather
from ._collectives import gather_with_grad
from ._collectives import is_distributed as is_distributed
from ._collectives import rank as rank
from ._collectives import world_size as world_size
from ._compat import AccelerateMixin
from .layers import GlobalBatchNorm as GlobalBatchNorm
from .layers import GlobalBatchNorm1d as GlobalBatchNorm1d
from .layers import GlobalBatchNorm2d as GlobalBatchNorm2d
from .layers import GlobalBatchNorm3d as GlobalBatchNorm3d
from .layers import convert_sync_batchnorm
from .training import SelfSupervisedNet

__all__ = [
    "DistributedSelfSupervisedNet",
    "convert_sync_batchnorm",
    "gather_with_grad",
    "to_plain_net",
]

_INSTALL_HINT = 'distributed pretraining needs accelerate: pip install "skaudio[distributed]"'


def _has_trainable_parameters(module: object) -> bool:
    return isinstance(module, nn.Module) and any(p.requires_grad for p in module.parameters())


def _require_accelerate() -> None:
    try:
        import accelerate  # noqa: F401
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc


class DistributedSelfSupervisedNet(AccelerateMixin, SelfSupervisedNet):
    """:class:`skaudio.training.SelfSupervisedNet` trained through accelerate (DDP).

    skorch's ``AccelerateMixin`` over :class:`~skaudio.training.SelfSupervisedNet`:
    pass ``accelerator=accelerate.Accelerator(...)`` and ``device=None``. Models whose
    batch norms went through :func:`convert_sync_batchnorm`, with criteria that gather
    (``gather_distributed=True``), then train as on the global batch. Three changes to
    the mixin:

    - criteria without trainable parameters (all of :mod:`skaudio.losses`) are only
      moved to the accelerator's device, not prepared (not wrapped in DDP);
    - ``accelerator.even_batches`` must stay ``True`` (accelerate's default) in a
      distributed run (a ``ValueError`` otherwise);
    - the net's ``precision`` must stay ``"fp32"`` (a ``ValueError`` otherwise): mixed
      precision is the accelerator's ``mixed_precision``.

    See :ref:`scale-distributed` for why.

    The prepared data loader gives each process ``batch_size`` rows per step (the
    global batch is ``world_size * batch_size``) and, with ``even_batches``, the
    same number of full batches: the last global batch is completed with the first
    rows of the dataset (``iterator_train__drop_last=True`` drops it instead).

    Raises
    ------
    ImportError
        When built without accelerate installed, with the command that installs it.

    See Also
    --------
    to_plain_net : A picklable plain net after training.

    Notes
    -----
    A training script, started with ``accelerate launch --num_processes 2 train.py``
    (add ``--cpu`` for CPU processes) or ``torchrun --nproc-per-node 2 train.py``:

    .. code-block:: python

        from accelerate import Accelerator
        from skaudio.distributed import DistributedSelfSupervisedNet
        from skaudio.distributed import convert_sync_batchnorm, to_plain_net

        model = convert_sync_batchnorm(build_model())  # same seed in every process
        net = DistributedSelfSupervisedNet(
            model, criterion=criterion, accelerator=Accelerator(), device=None,
            batch_size=128, train_split=None)  # 128 clips per process and step
        net.fit(dataset, None)
        if net.accelerator.is_main_process:
            joblib.dump(to_plain_net(net), "net.joblib")

    Examples
    --------
    >>> from skaudio.distributed import DistributedSelfSupervisedNet
    >>> from skaudio.training import SelfSupervisedNet
    >>> issubclass(DistributedSelfSupervisedNet, SelfSupervisedNet)
    True
    """

    def __init__(self, *args, **kwargs):
        _require_accelerate()
        super().__init__(*args, **kwargs)

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


def distributed_net_class() -> type:
    """:class:`DistributedSelfSupervisedNet`, once accelerate is known to be installed.

    The same class as the module attribute; it raises the install hint when
    accelerate is missing.

    Returns
    -------
    net_class : type
        :class:`DistributedSelfSupervisedNet`.

    Raises
    ------
    ImportError
        If accelerate is not installed, with the command that installs it.

    Examples
    --------
    >>> from skaudio.distributed import DistributedSelfSupervisedNet, distributed_net_class
    >>> distributed_net_class() is DistributedSelfSupervisedNet  # needs accelerate
    True
    """
    _require_accelerate()
    return DistributedSelfSupervisedNet


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
