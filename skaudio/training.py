"""Self-supervised training through skorch: the net and its callbacks.

The datasets it trains on are in :mod:`skaudio.data` (still importable from here).
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, LRScheduler, PassthroughScoring, ProgressBar
from skorch.dataset import unpack_data
from torch.optim.lr_scheduler import LambdaLR

from ._collectives import _equal_shards
from ._torch_utils import autocast
from .data import (  # the datasets re-exported from their first home, out of __all__
    SegmentDataset,  # noqa: F401
    SegmentPairDataset,  # noqa: F401
    TokenContextDataset,  # noqa: F401
    TokenWindowDataset,  # noqa: F401  (the old names)
    WindowDataset,  # noqa: F401
    batch_to_device,
    collate_batch,
    seed_worker,  # noqa: F401
)

__all__ = [
    "SelfSupervisedNet",
    "StopTraining",
]


class StopTraining(KeyboardInterrupt):
    """Raised by a callback to end training early: a complete fit, not an interrupt.

    skorch's loop ends on a ``KeyboardInterrupt`` (its ``EarlyStopping`` raises one);
    :meth:`SelfSupervisedNet.partial_fit` re-raises a real interrupt (Ctrl-C) after the
    callbacks' ``on_train_end``, but not this subclass, after which the fit ends normally.
    """


class SelfSupervisedNet(NeuralNet):
    """A skorch ``NeuralNet`` that also logs the criterion's batch metrics.

    The criterion may define ``metric_names`` and ``metrics(y_pred)`` (for example the
    pretext-task accuracy); each metric is recorded per batch as ``train_<name>`` and
    averaged per epoch by the callbacks of :func:`training_callbacks`. The
    estimators of skaudio train their pretraining models with it, on the datasets of
    this module.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        The pretraining model, e.g. :class:`skaudio.models.COLAModel`; skorch passes
        the dict of inputs of each batch to its ``forward`` as keyword arguments.
    criterion : torch.nn.Module class or instance
        The loss, e.g. one of the criteria of :mod:`skaudio.losses`.
    precision : {"fp32", "bf16", "fp16"}, default="fp32"
        Precision of the module's forward pass: ``"bf16"`` and ``"fp16"`` run it
        under ``torch.autocast`` of the net's device type (matmuls and convolutions
        in half precision, the weights and the optimiser in float32); the
        criterion runs outside autocast (skaudio's criteria, log-mel frontend and
        similarities compute in float32 whatever their input:
        ``skaudio._torch_utils.fp32_island``). ``"fp16"`` also scales the loss
        with a :class:`GradScaling` callback, named ``"grad_scaler"``, added to the
        default callbacks; the gradients seen by ``on_grad_computed`` callbacks
        (e.g. gradient clipping) are unscaled. Under accelerate
        (:func:`skaudio.distributed.distributed_net_class`) it must stay ``"fp32"``:
        pass ``mixed_precision`` to the ``Accelerator`` instead.
    **kwargs
        Other parameters of :class:`skorch.NeuralNet`, such as ``optimizer``,
        ``lr``, ``max_epochs``, ``batch_size``, ``train_split`` and ``callbacks``.
        ``iterator_train__collate_fn`` and ``iterator_valid__collate_fn`` default to
        :func:`collate_batch` (the datasets of :mod:`skaudio.data` cut whole batches at once).
        Batches are moved to ``device`` by :func:`batch_to_device`: asynchronously on
        CUDA (give the data loader ``iterator_train__pin_memory=True`` for the copies
        to overlap with the computation).

    See Also
    --------
    training_callbacks : The callbacks that average the metrics per epoch.

    Examples
    --------
    >>> import torch
    >>> from skaudio.heads import BilinearSimilarity
    >>> from skaudio.losses import ContrastiveCrossEntropy
    >>> from skaudio.training import SelfSupervisedNet, training_callbacks
    >>> _ = torch.manual_seed(0)
    >>> anchors = torch.randn(8, 4)
    >>> X = {"anchors": anchors, "positives": anchors + 0.1 * torch.randn(8, 4)}
    >>> net = SelfSupervisedNet(
    ...     BilinearSimilarity, ContrastiveCrossEntropy, module__dim=4, max_epochs=2,
    ...     batch_size=8, train_split=None, verbose=0,
    ...     callbacks=training_callbacks(ContrastiveCrossEntropy.metric_names, verbose=0))
    >>> len(net.fit(X, None).history), "train_pretext_acc" in net.history[-1]
    (2, True)
    """

    def __init__(self, module, criterion, *, precision: str = "fp32", **kwargs) -> None:
        # batches cut at once by a dataset's ``__getitems__`` arrive already collated
        kwargs.setdefault("iterator_train__collate_fn", collate_batch)
        kwargs.setdefault("iterator_valid__collate_fn", collate_batch)
        super().__init__(module, criterion, **kwargs)
        self.precision = precision

    @property
    def _precision(self) -> str:
        return getattr(self, "precision", "fp32")  # nets pickled before the parameter

    def _validate_params(self):
        super()._validate_params()
        if self._precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be 'fp32', 'bf16' or 'fp16', got {self._precision!r}")

    def get_default_callbacks(self):
        """skorch's default callbacks, and a :class:`GradScaling` with ``precision="fp16"``."""
        callbacks = list(super().get_default_callbacks())
        if self._precision == "fp16":
            device_type = torch.device(self.device or "cpu").type
            callbacks.append(("grad_scaler", GradScaling(device_type)))
        return callbacks

    def _grad_scaler(self) -> torch.amp.GradScaler | None:
        callback = dict(getattr(self, "callbacks_", [])).get("grad_scaler")
        return getattr(callback, "scaler_", None)

    def infer(self, x, **fit_params):
        """The module's forward pass, under autocast unless ``precision="fp32"``.

        The batch is moved to the device by :func:`batch_to_device` (asynchronous
        copies on CUDA) rather than by skorch's blocking ``to_tensor``.
        """
        x = batch_to_device(x, self.device)
        with autocast(self.device, self._precision):
            return super().infer(x, **fit_params)

    def train_step(self, batch, **fit_params):
        """skorch's training step, on the batch moved to the device at once (inputs and targets).

        Moving the targets with the inputs, asynchronously, spares the blocking copy
        that skorch's ``get_loss`` would make of them after the forward pass had been
        queued (a host synchronisation in the middle of every CUDA step).
        """
        return super().train_step(batch_to_device(batch, self.device), **fit_params)

    def train_step_single(self, batch, **fit_params):
        """skorch's step; with a gradient scaler, the loss is scaled and the gradients unscaled."""
        scaler = self._grad_scaler()
        if scaler is None:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        for name in self._optimizers:
            scaler.unscale_(getattr(self, name + "_"))
        return {"loss": loss, "y_pred": y_pred}

    def _step_optimizer(self, step_fn):
        scaler = self._grad_scaler()
        if scaler is None:
            return super()._step_optimizer(step_fn)
        step_fn()  # GradScaler.step takes no closure
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))  # skipped when a gradient is inf/NaN
        scaler.update()
        return None

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's training loop, noting a ``KeyboardInterrupt`` for :meth:`partial_fit`.

        A :class:`StopTraining` is not noted: it ends the fit as a complete one.
        """
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except StopTraining:
            raise
        except KeyboardInterrupt as interrupt:
            self._interrupt = interrupt
            raise

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train ``max_epochs`` (or ``epochs``) more epochs; an interrupt stops training.

        Unlike skorch's ``NeuralNet``, which swallows a ``KeyboardInterrupt`` (Ctrl-C) and
        returns the half-trained net as if training had finished, the interrupt is
        raised again, after the callbacks' ``on_train_end``: the caller never mistakes
        a partial run for a complete one. Epochs completed before it keep what
        ``on_epoch_end`` callbacks did with them (e.g. an
        :class:`skaudio.checkpoint.EpochCheckpoint`).
        """
        self._interrupt = None
        try:
            super().partial_fit(X, y, classes=classes, **fit_params)
            interrupt = self._interrupt
        finally:
            del self._interrupt
        if interrupt is not None:
            raise interrupt
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Loss of a batch; in training, also keeps the criterion's batch metrics.

        The metrics (detached 0-d tensors, left on the device: reading each back
        would make the host wait for the GPU at every step) are written into the
        batch's history, as ``train_<name>``, at the end of the epoch, in one
        transfer for the whole epoch (:meth:`on_epoch_end`, which runs before the
        callbacks' ``on_epoch_end``: their averages see every batch's metrics). The
        history holds what recording them at every batch would, in the same key
        order; ``on_batch_end`` callbacks do not see the batch's metrics.

        Parameters
        ----------
        y_pred : object
            Output of the module's ``forward``.
        y_true : torch.Tensor
            Targets of the batch (most criteria of :mod:`skaudio.losses` ignore them).
        X : object, default=None
            Inputs of the batch.
        training : bool, default=False
            Whether the batch is a training batch; only then are the metrics recorded.

        Returns
        -------
        loss : torch.Tensor of shape ()
        """
        with _equal_shards(self._shards_are_equal()):  # no shape exchange in gathers
            loss = super().get_loss(y_pred, y_true, X=X, training=training)
            metrics = getattr(self.criterion_, "metrics", None)
            if training and metrics is not None:
                values = {
                    f"train_{name}": value.detach() if torch.is_tensor(value) else value
                    for name, value in metrics(y_pred).items()
                }
        if training and metrics is not None:
            batch = self.history[-1]["batches"][-1]
            # the batch's record, where its metrics go, and how many keys it had then
            self.__dict__.setdefault("_pending_metrics", []).append((batch, len(batch), values))
        return loss

    def _shards_are_equal(self) -> bool:
        """Whether every process of the run has batches of the same size.

        So under accelerate with ``even_batches`` (which
        :func:`skaudio.distributed.distributed_net_class` requires): the gathers of
        the loss then exchange no shapes.
        """
        accelerator = getattr(self, "accelerator", None)
        return bool(
            accelerator is not None
            and accelerator.num_processes > 1
            and getattr(accelerator, "even_batches", False)
        )

    def _flush_metrics(self) -> None:
        """Write the kept batch metrics into their batches, read back in one transfer."""
        pending = self.__dict__.get("_pending_metrics")
        if not pending:
            return
        self._pending_metrics = []
        tensors = [v for _, _, values in pending for v in values.values() if torch.is_tensor(v)]
        read = iter(self._to_host(tensors))
        for batch, position, values in pending:
            values = {k: next(read) if torch.is_tensor(v) else v for k, v in values.items()}
            items = list(batch.items())
            merged = dict(items[:position])
            merged.update(values)  # as recorded after the keys there before, over them
            merged.update(items[position:])  # later records, over the metrics
            batch.clear()
            batch.update(merged)

    @staticmethod
    def _to_host(tensors: list[torch.Tensor]) -> list:
        """The Python numbers of 0-d ``tensors``, one transfer per device and dtype.

        The same numbers as ``[t.item() for t in tensors]``.
        """
        groups: dict = {}
        for i, tensor in enumerate(tensors):
            groups.setdefault((tensor.device, tensor.dtype), []).append(i)
        values: list = [None] * len(tensors)
        for indices in groups.values():
            stacked = torch.stack([tensors[i].reshape(()) for i in indices])
            for i, value in zip(indices, stacked.tolist(), strict=True):
                values[i] = value
        return values

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """skorch's new epoch; metrics left by an epoch that raised go to its batches."""
        self._flush_metrics()
        super().on_epoch_begin(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """The epoch's batch metrics into the history, before the callbacks read them."""
        self._flush_metrics()
        super().on_epoch_end(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """The metrics of an epoch cut short (``KeyboardInterrupt``) into the history."""
        self._flush_metrics()
        super().on_train_end(net, X=X, y=y, **kwargs)


class GradScaling(Callback):
    """skorch callback holding the loss scaler of fp16 training (``torch.amp.GradScaler``).

    :class:`SelfSupervisedNet` with ``precision="fp16"`` adds one, named
    ``"grad_scaler"``, to its default callbacks and steps through its ``scaler_``:
    the loss is multiplied by the scale before the backward pass, the gradients
    divided by it before the optimiser step, a step whose gradients overflowed
    (inf or NaN) is skipped and the scale halved, and the scale doubles after
    ``growth_interval`` steps without overflow (Micikevicius et al., 2018). bf16
    has float32's exponent range and needs none.

    Its state (scale and growth tracker, plain numbers: :meth:`state_dict`) is saved
    in every checkpoint by :class:`skaudio.checkpoint.EpochCheckpoint` and put back by
    :func:`skaudio.checkpoint.restore_checkpoint`, so a resumed fp16 run scales as
    the interrupted one.

    Parameters
    ----------
    device_type : str, default="cuda"
        Device type of the training (``"cuda"`` or ``"cpu"``).
    init_scale : float, default=65536.0
        Initial scale.
    growth_interval : int, default=2000
        Steps without overflow after which the scale doubles.

    Attributes
    ----------
    scaler_ : torch.amp.GradScaler

    Examples
    --------
    >>> from skaudio.training import GradScaling
    >>> callback = GradScaling("cpu").initialize()
    >>> callback.state_dict()["scale"]
    65536.0
    """

    def __init__(
        self, device_type: str = "cuda", init_scale: float = 2.0**16, growth_interval: int = 2000
    ) -> None:
        self.device_type = device_type
        self.init_scale = init_scale
        self.growth_interval = growth_interval

    def initialize(self):
        self.scaler_ = torch.amp.GradScaler(
            self.device_type, init_scale=self.init_scale, growth_interval=self.growth_interval
        )
        return self

    def state_dict(self) -> dict:
        """The scaler's state: scale, growth and backoff factors, growth tracker."""
        return self.scaler_.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Resume the scale that :meth:`state_dict` described."""
        self.scaler_.load_state_dict(state)


def training_callbacks(
    metric_names: tuple[str, ...],
    verbose: int,
    lr_schedule: str | None = None,
    warmup_epochs: float = 0.0,
) -> list:
    """Callbacks of a pretraining run: per-epoch metrics, the learning rate, a progress bar.

    Parameters
    ----------
    metric_names : tuple of str
        Names of the criterion's batch metrics (its ``metric_names``), recorded by
        :class:`SelfSupervisedNet` as ``train_<name>``.
    verbose : int
        Whether to show a progress bar over the batches of each epoch.
    lr_schedule : {"constant", "cosine"} or None, default=None
        With a name, a :class:`LearningRateSchedule` of that ``schedule`` sets the
        learning rate of every batch; ``None`` leaves it to the optimiser.
    warmup_epochs : float, default=0.0
        The schedule's warmup (see :class:`LearningRateSchedule`).

    Returns
    -------
    callbacks : list of (str, Callback)
        Named skorch callbacks: a ``PassthroughScoring`` per metric, averaging it over
        the epoch under the name ``train_<name>``, then
        ``("lr_schedule", LearningRateSchedule)`` if ``lr_schedule`` is given, then
        ``("progress", ProgressBar)`` if ``verbose``.

    Examples
    --------
    >>> from skaudio.training import training_callbacks
    >>> [name for name, _ in training_callbacks(("pretext_acc",), verbose=0)]
    ['train_pretext_acc']
    >>> [name for name, _ in training_callbacks(("pretext_acc",), verbose=1, lr_schedule="cosine")]
    ['train_pretext_acc', 'lr_schedule', 'progress']
    """
    callbacks: list = [
        (f"train_{name}", PassthroughScoring(name=f"train_{name}", on_train=True))
        for name in metric_names
    ]
    if lr_schedule is not None:
        callbacks.append(("lr_schedule", LearningRateSchedule(lr_schedule, warmup_epochs)))
    if verbose:
        callbacks.append(("progress", ProgressBar()))
    return callbacks


def _lr_factor(step: int, *, offset: int, n_steps: int, warmup_steps: int, cosine: bool) -> float:
    """Share of the base learning rate at step ``offset + step`` (from 0) of a run."""
    step = min(offset + step, n_steps - 1)  # never past the run's last step
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if not cosine:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / (n_steps - warmup_steps)))


_SKIPPED_STEP_WARNING = r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"


class LearningRateSchedule(LRScheduler):
    r"""skorch callback setting the learning rate of every batch: warmup, then constant or cosine.

    A *run* is one training call of the net (``fit`` or ``partial_fit``) of
    :math:`E` epochs (the net's ``max_epochs``, or what :meth:`begin_run` says) and
    :math:`S = E \times B` optimiser steps, with :math:`B` the batches per epoch (the
    data loader's: ``ceil(n / batch_size)``, or ``n // batch_size`` with
    ``iterator_train__drop_last``). Step :math:`s = 0, \dots, S - 1` trains at

    .. math::

        \eta_s = \eta \, \frac{s + 1}{W} \quad (s < W), \qquad
        \eta_s = \eta \quad (\text{constant}), \qquad
        \eta_s = \frac{\eta}{2} \Big(1 + \cos \frac{\pi (s - W)}{S - W}\Big)
        \quad (\text{cosine}),

    with :math:`\eta` the optimiser's initial rate and :math:`W =
    \lceil \text{warmup\_epochs} \times B \rceil` warmup steps: a linear warmup
    (Goyal et al., 2017) that never starts at 0, then a half-cosine decay
    (Loshchilov & Hutter, 2017) that would reach 0 one step after the last, so that no
    step trains at 0. A run shorter than its warmup ends below :math:`\eta`.

    Under accelerate with ``split_batches=True`` (skaudio's distributed training,
    :func:`skaudio.distributed.global_batch_accelerator`) every process takes a share
    of each global batch, so it steps once per global batch: :math:`B` is the same in
    every process and the schedule does not depend on their number.

    The position in the run is the callback's state (:meth:`state_dict`), saved in
    every checkpoint by :class:`skaudio.checkpoint.EpochCheckpoint` and put back by
    :func:`skaudio.checkpoint.restore_checkpoint`: a resumed run trains at the rates of
    the interrupted one. The rate of every batch, and of the last batch of every
    epoch, is recorded in the history as ``event_name``.

    Parameters
    ----------
    schedule : {"constant", "cosine"}, default="constant"
    warmup_epochs : float, default=0.0
        Length of the warmup, in epochs (rounded up to whole steps); 0 for none.
    event_name : str or None, default="lr"
        History key of the rates; ``None`` records nothing.

    Examples
    --------
    >>> import torch
    >>> from skorch import NeuralNetRegressor
    >>> from skaudio.training import LearningRateSchedule
    >>> X, y = torch.randn(16, 3), torch.randn(16, 1)
    >>> net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
    ...     lr=0.1, max_epochs=2, batch_size=4, train_split=None, verbose=0,
    ...     callbacks=[LearningRateSchedule("cosine", warmup_epochs=0.5)]).fit(X, y)
    >>> [round(lr, 4) for lr in net.history[:, "batches", :, "lr"][0]]  # 2 warmup steps
    [0.05, 0.1, 0.1, 0.0933]
    >>> [round(lr, 4) for lr in net.history[:, "lr"]]  # the last step of each epoch
    [0.0933, 0.0067]
    """

    def __init__(
        self, schedule: str = "constant", warmup_epochs: float = 0.0, event_name: str | None = "lr"
    ) -> None:
        super().__init__(policy=LambdaLR, monitor=None, event_name=event_name, step_every="batch")
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs

    def initialize(self):
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if not self.warmup_epochs >= 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs!r}")
        super().initialize()
        self.run_epochs_ = None  # epochs of the next run (None: the net's max_epochs)
        self.run_warmup_ = True
        self.n_steps_ = None  # steps of the run in progress (None: no run)
        self.warmup_steps_ = 0
        self.step_ = 0  # steps of the run done
        return self

    def begin_run(self, epochs: int, *, warmup: bool = True) -> None:
        """Make the next training call a new run of ``epochs`` epochs.

        Parameters
        ----------
        epochs : int
        warmup : bool, default=True
            Whether the run starts with the warmup (False: a restart at the full rate).
        """
        self.run_epochs_ = epochs
        self.run_warmup_ = warmup
        self.n_steps_ = None

    @staticmethod
    def batches_per_epoch(net, X, y=None) -> int:
        """Training batches per epoch of ``net`` on ``X``, as its data loader makes them."""
        n = len(net.get_dataset(X, y))
        params = net.get_params_for("iterator_train")
        batch_size = params.get("batch_size", net.batch_size)
        batch_size = n if batch_size in (None, -1) else batch_size
        if params.get("drop_last", False):
            return n // batch_size
        return -(-n // batch_size)

    def on_train_begin(self, net, X=None, y=None, **kwargs) -> None:
        if self.n_steps_ is None:  # a new run (not one resumed from a checkpoint)
            batches = self.batches_per_epoch(net, X, y)
            epochs = net.max_epochs if self.run_epochs_ is None else self.run_epochs_
            self.n_steps_ = max(1, epochs * batches)
            warmup = self.run_warmup_ and self.warmup_epochs > 0
            self.warmup_steps_ = math.ceil(self.warmup_epochs * batches) if warmup else 0
            self.step_ = 0
        factor = partial(
            _lr_factor,
            offset=self.step_,
            n_steps=self.n_steps_,
            warmup_steps=self.warmup_steps_,
            cosine=self.schedule == "cosine",
        )
        # the base rate is the optimiser's first (its ``initial_lr``, set once)
        self.lr_scheduler_ = LambdaLR(net.optimizer_, factor)

    def on_batch_end(self, net, training, **kwargs) -> None:
        if not training:
            return
        with warnings.catch_warnings():
            if getattr(net, "_grad_scaler", lambda: None)() is not None:
                # fp16: a step skipped by the loss scaler (gradients overflowed) is a
                # step of the schedule all the same
                warnings.filterwarnings("ignore", _SKIPPED_STEP_WARNING, UserWarning)
            super().on_batch_end(net, training=training, **kwargs)
        self.step_ += 1

    def on_epoch_end(self, net, **kwargs) -> None:
        batches = net.history[-1, "batches"]
        if self.event_name is not None and batches and self.event_name in batches[-1]:
            net.history.record(self.event_name, batches[-1][self.event_name])

    def on_train_end(self, net, **kwargs) -> None:
        # the run is over: the next training call starts a new one (a warm restart)
        self.run_epochs_, self.run_warmup_, self.n_steps_ = None, True, None
        self.lr_scheduler_ = None

    def state_dict(self) -> dict:
        """The position in the run in progress (plain numbers), for a checkpoint."""
        return {
            "n_steps": self.n_steps_,
            "warmup_steps": self.warmup_steps_,
            "step": self.step_,
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume the run that :meth:`state_dict` described at its next step."""
        self.n_steps_ = state["n_steps"]
        self.warmup_steps_ = state["warmup_steps"]
        self.step_ = state["step"]
