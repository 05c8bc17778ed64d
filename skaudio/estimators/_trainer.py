"""The trainer of every embedder: build the net, train N epochs, resume, continue.

:class:`TrainerMixin` is what :class:`~skaudio.estimators._base.BaseAudioEmbedder`'s
``fit``, ``partial_fit`` and ``warm_start`` share through one inner step
(``BaseAudioEmbedder._fit``): a first fit calls :meth:`TrainerMixin._start` (seeded
block, then the method's ``_pretrain``, which trains each net with :meth:`_train`),
continued training calls :meth:`TrainerMixin._continue`. Neither reads
``max_epochs``: the number of epochs is an argument, so ``partial_fit`` trains one
epoch without touching the parameters.

Checkpoints are a callback pair on the net, as skorch's ``Checkpoint`` and
``LoadInitState``: :class:`~skaudio.checkpoint.ResumeCheckpoint` (first, so that the
callbacks whose state it restores see it) reads the checkpoint when the net is
initialised and restores it when training begins;
:class:`~skaudio.checkpoint.EpochCheckpoint` (last, so that it saves the epoch's state
of the others) writes one after every epoch. Both belong to the fit that added them and
are taken off the net after it, with the method's other per-fit callbacks
(``_fit_callbacks``).

Each training call reads ``random_state`` once, into a
:class:`~skaudio._random.RunRandomness` (:attr:`TrainerMixin._randomness` while the
call runs): the torch seed of its seeded block, the data Generator its datasets and
checkpoints share, the builders' module seeds and the loader workers' streams, per
process (:mod:`skaudio._random` tells the whole story).
"""

from __future__ import annotations

import copy
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from .._allocator import training_allocator
from .._collectives import rank
from .._random import RunRandomness
from .._torch_utils import (
    compile_in_place,
    cuda_training_flags,
    deterministic_algorithms,
    resolve_device,
    resolve_precision,
)
from ..checkpoint import (
    EpochCheckpoint,
    ResumeCheckpoint,
    clip_digests,
    data_fingerprint,
    net_state,
    restore_checkpoint,
)
from ..clips import AudioClips
from ..data import seed_worker
from ..distributed import (
    DistributedSelfSupervisedNet,
    global_batch_accelerator,
    join_processes,
    to_plain_net,
)
from ..encoders import FrameEncoder
from ..layers import convert_sync_batchnorm
from ..training import SelfSupervisedNet, training_callbacks

__all__: list[str] = []

#: names of the callbacks of the checkpoint pair
_CHECKPOINT_CALLBACKS = ("resume", "checkpoint")


def _held_out_split(dataset, y=None, **fit_params):
    """skorch ``train_split`` of a dataset that carries its ``validation`` part.

    ``dataset.training`` is trained on and ``dataset.validation`` scored after every
    epoch (see the token transformer's held-out clips).
    """
    return getattr(dataset, "training", dataset), getattr(dataset, "validation", None)


class TrainerMixin:
    """Builds, trains, resumes and continues the nets of an embedder (see the module)."""

    # -- what the methods may add ------------------------------------------------------
    def _prepare_model(
        self, module: nn.Module, dataset, clips: AudioClips, epochs: int, *, continuing: bool
    ) -> None:
        """Set the data-dependent state of ``module`` before ``epochs`` epochs of training.

        Called in the seeded block, after the dataset was built and before the net
        is; in continued training after the net's state was kept for a rollback, so
        what it changes in the module's state dict is undone if training fails.
        """

    def _fit_callbacks(self, module: nn.Module) -> list:
        """Callbacks of a first fit of ``module`` only (taken off the net after it)."""
        return []

    def _end_training(self, net, module: nn.Module) -> None:
        """After a first fit of ``module``'s net, before its per-fit callbacks are taken off."""

    def _loader_settings(self, dataset) -> dict:
        """skorch ``iterator_train__*`` settings of training on ``dataset`` (e.g. a sampler).

        Given to the net of a first fit and set on the fitted net before continued
        training; ``{}`` (the default) keeps the shuffled data loader.
        """
        return {}

    # -- building -----------------------------------------------------------------------
    def _new_net(
        self,
        module: nn.Module,
        criterion: nn.Module,
        callbacks: list | None = None,
        *,
        distributed: bool = False,
        epochs: int | None = None,
        resume: ResumeCheckpoint | None = None,
        loader: dict | None = None,
    ) -> SelfSupervisedNet:
        """A skorch net training ``module`` with ``criterion`` at this estimator's settings.

        With ``distributed``, the net trains through accelerate (one process of a
        multi-process run), with batch norms over the global batch and
        ``batch_size`` clips per global batch, split between the processes.

        The forward pass runs at ``precision_`` (the net's ``precision``, or
        accelerate's ``mixed_precision`` when distributed: autocast is applied once);
        on CUDA the optimiser is the fused AdamW. With ``compile``, the encoders of
        ``module`` are compiled in place (:meth:`_compile_encoders`). Distributed
        batch norms are ``torch.nn.SyncBatchNorm`` on CUDA with NCCL, else
        :class:`~skaudio.distributed.GlobalBatchNorm`.

        The learning rate of every batch is set by a
        :class:`~skaudio.training.LearningRateSchedule` (``lr_schedule``,
        ``warmup_epochs``) over ``epochs`` (default ``max_epochs``), the net's
        callback ``"lr_schedule"``. ``resume`` comes before every other callback,
        ``callbacks`` after them. ``loader`` overrides the data loader's settings
        (:meth:`_loader_settings`).
        """
        self._compile_encoders(module)
        metric_names = getattr(criterion, "metric_names", ())
        verbose = int(self.verbose) if rank() == 0 else 0  # progress from one process
        precision = getattr(self, "precision_", "fp32")
        cuda = self.device_.startswith("cuda")
        first = [("resume", resume)] if resume is not None else []
        settings = dict(
            criterion=criterion,
            optimizer=torch.optim.AdamW,
            lr=self.lr,
            optimizer__weight_decay=self.weight_decay,
            max_epochs=self.max_epochs if epochs is None else epochs,
            batch_size=self.batch_size,
            train_split=None,
            iterator_train__shuffle=True,
            iterator_train__pin_memory=cuda,
            iterator_train__num_workers=self.num_workers,
            iterator_train__worker_init_fn=self._randomness.worker_init_fn(seed_worker),
            callbacks=first
            + training_callbacks(metric_names, verbose, self.lr_schedule, self.warmup_epochs)
            + (callbacks or []),
            verbose=verbose,
        )
        if cuda:  # one kernel for all the parameters' updates
            settings["optimizer__fused"] = True
        settings.update(loader or {})
        if not distributed:
            return SelfSupervisedNet(
                module=module, device=self.device_, precision=precision, **settings
            )
        accelerator = global_batch_accelerator(
            self.device_, self.batch_size, mixed_precision=precision
        )
        module = convert_sync_batchnorm(module, device=accelerator.device)
        return DistributedSelfSupervisedNet(
            module=module, accelerator=accelerator, device=None, **settings
        )

    def _compile_encoders(self, module: nn.Module) -> nn.Module:
        """Compile the encoders in ``module`` in place when ``compile``, else un-compile them.

        Every outermost :class:`~skaudio.encoders.FrameEncoder` of ``module`` (the
        encoder, and e.g. BYOL's target encoder) goes through
        :func:`skaudio._torch_utils.compile_in_place`: its state-dict keys and its
        pickling stay as they are. Called for every net ``fit`` trains, before
        continued training and before embedding, so the fitted encoder follows the
        current ``compile`` (an unpickled one is compiled again on its first use).
        """
        enabled = bool(getattr(self, "compile", False))

        def visit(part: nn.Module) -> None:
            if isinstance(part, FrameEncoder):
                compile_in_place(part, enabled=enabled)
                return
            for child in part.children():
                visit(child)

        visit(module)
        return module

    @contextmanager
    def _training_run(self, device: str):
        """What every training call runs in: the tuned allocator, deterministic algorithms.

        glibc's malloc tuned for training (:mod:`skaudio._allocator`), and with
        ``deterministic`` torch's deterministic algorithms, restored after
        (:func:`skaudio._torch_utils.deterministic_algorithms`); enter it before
        :func:`~skaudio._torch_utils.cuda_training_flags`, which then leaves cuDNN
        autotuning off.
        """
        deterministic = bool(getattr(self, "deterministic", False))
        with training_allocator(), deterministic_algorithms(deterministic, device):
            yield

    # -- checkpoints ----------------------------------------------------------------------
    def _checkpoint_manifest(
        self,
        stage: str,
        clips: AudioClips,
        digests: np.ndarray | None = None,
        *,
        epochs: int | None = None,
    ) -> dict:
        """What a checkpoint of ``stage`` must match to be resumed by this fit.

        The estimator, its learning parameters and the data: number of clips, of
        samples, and a fingerprint of the clips (``digests``, see
        :func:`skaudio.checkpoint.clip_digests`), so that other data of the same
        shape is not mistaken for the checkpoint's. With ``lr_schedule="cosine"``
        also the fit's epochs (``epochs``, default ``max_epochs``), over which the
        learning rate decays: such a run cannot be extended (its rate is already
        near 0), only resumed. A parameter of ``_UNRECORDED_DEFAULTS`` is recorded
        only when it differs from its value there.
        """
        run_only = self._RUN_ONLY_PARAMS
        values = self.get_params(deep=False)
        if self.lr_schedule == "cosine":
            run_only = run_only - {"max_epochs"}
            if epochs is not None:
                values["max_epochs"] = epochs
        unrecorded = self._UNRECORDED_DEFAULTS
        params = {
            name: repr(value)
            for name, value in sorted(values.items())
            if name not in run_only and not (name in unrecorded and value == unrecorded[name])
        }
        digests = clip_digests(clips) if digests is None else digests
        data = {
            "n_clips": len(clips),
            "n_samples": int(clips.lengths.sum()),
            "data": data_fingerprint(digests),
        }
        return {"estimator": type(self).__name__, "stage": stage, **params, **data}

    def _check_checkpoint_dir(self) -> None:
        """Refuse a ``checkpoint_dir`` that cannot be written, before any training.

        The folder is created if missing and a probe file is written and removed in it.
        """
        if self.checkpoint_dir is None:
            return
        folder = Path(self.checkpoint_dir)
        if folder.exists() and not folder.is_dir():
            raise ValueError(
                f"checkpoint_dir={os.fspath(self.checkpoint_dir)!r} is a file, not a "
                "folder; pass a folder (it is created if missing)"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder, prefix=".write-probe-"):
                pass
        except OSError as error:
            raise ValueError(
                f"checkpoint_dir={os.fspath(self.checkpoint_dir)!r} cannot be written "
                f"({type(error).__name__}: {error.strerror or error}); pass a folder this "
                "process can create and write files in, or checkpoint_dir=None"
            ) from error

    def _checkpoint_pair(
        self,
        stage: str,
        clips: AudioClips,
        rng: np.random.Generator,
        epochs: int,
        trained_on: dict | None,
    ) -> tuple[ResumeCheckpoint, EpochCheckpoint]:
        """The callbacks that resume ``stage`` from ``<checkpoint_dir>/<stage>.pt`` and save it."""
        path = Path(self.checkpoint_dir) / f"{stage}.pt"
        digests = clip_digests(clips)
        manifest = {
            **self._checkpoint_manifest(stage, clips, digests, epochs=epochs),
            **(trained_on or {}),
        }
        resume = ResumeCheckpoint(
            path, manifest, rng, digests=digests, clips=clips, restart_on=tuple(trained_on or ())
        )
        writer = EpochCheckpoint(path, manifest, rng, is_writer=rank() == 0, digests=digests)
        return resume, writer

    # -- training ------------------------------------------------------------------------
    def _train(
        self,
        module: nn.Module,
        criterion: nn.Module,
        dataset,
        rng: np.random.Generator,
        *,
        clips: AudioClips,
        epochs: int | None = None,
        stage: str = "model",
        trained_on: dict | None = None,
    ) -> SelfSupervisedNet:
        """Train a new net on ``dataset`` for ``epochs`` in all, resuming from a checkpoint.

        ``epochs`` defaults to ``max_epochs``. With ``checkpoint_dir`` set, the net is
        saved after every epoch to ``<checkpoint_dir>/<stage>.pt``, and a checkpoint
        already there (from an interrupted fit of the same configuration on the same
        ``clips``) is restored when training begins: training continues from its
        last complete epoch, with its random states and its place in the
        learning-rate schedule (which spans the ``epochs``), up to ``epochs`` in all.

        ``trained_on`` adds manifest entries for what the stage's input came from
        (e.g. the fingerprint of the tokenizer a later stage learns on): a checkpoint
        that differs only in those is stale, and the stage is trained from scratch
        (overwriting it) instead of resumed. A ``KeyboardInterrupt`` propagates, after
        the last complete epoch was saved.
        """
        epochs = self.max_epochs if epochs is None else epochs
        self._prepare_model(module, dataset, clips, epochs, continuing=False)
        if epochs == 0 and self.checkpoint_dir is None:  # nothing to train, nor to resume
            net = self._new_net(module, criterion, epochs=epochs).initialize()
            self._end_training(net, module)
            return net
        fit_callbacks = self._fit_callbacks(module)
        resume = writer = None
        if self.checkpoint_dir is not None:
            resume, writer = self._checkpoint_pair(stage, clips, rng, epochs, trained_on)
        callbacks = fit_callbacks + ([("checkpoint", writer)] if writer is not None else [])
        net = self._new_net(
            module,
            criterion,
            callbacks,
            distributed=self.distributed,
            epochs=epochs,
            resume=resume,
            loader=self._loader_settings(dataset),
        )
        if hasattr(dataset, "validation"):
            net.train_split = _held_out_split
        net.initialize()
        done = 0 if resume is None else resume.epochs_
        if done > epochs:
            raise ValueError(
                f"checkpoint {os.fspath(resume.path)!r} holds {done} epochs, more than "
                f"max_epochs={epochs}; raise max_epochs or use another checkpoint_dir"
            )
        if epochs > done:
            net.partial_fit(dataset, None, epochs=epochs - done)
        elif resume is not None:  # a finished run: its checkpoint is the result
            resume.restore(net)
        self._end_training(net, module)
        self._drop_fit_callbacks(net, [name for name, _ in fit_callbacks], resume is not None)
        # a net holding an accelerator does not pickle: keep the trained parts only
        return to_plain_net(net) if self.distributed else net

    @staticmethod
    def _drop_fit_callbacks(net, names: list, checkpointed: bool) -> None:
        """Take this fit's callbacks off ``net``: continued training (``partial_fit``,
        ``warm_start``), maybe on other data, must not write under the fit's manifest
        nor validate on its held-out clips."""
        names = set(names)
        if names:
            net.callbacks = [c for c in net.callbacks if c[0] not in names]
            net.callbacks_ = [c for c in net.callbacks_ if c[0] not in names]
            net.train_split = None
        if checkpointed:
            scaler = {n: c.state_dict() for n, c in net.callbacks_ if n == "grad_scaler"}
            net.callbacks = [c for c in net.callbacks if c[0] not in _CHECKPOINT_CALLBACKS]
            net.initialize_callbacks()
            for name, callback in net.callbacks_:
                if name in scaler:  # fp16's loss scale goes on with continued training
                    callback.load_state_dict(scaler[name])

    def _pretrain(
        self,
        clips: AudioClips,
        targets: np.ndarray | None,
        rng: np.random.Generator,
        *,
        epochs: int | None = None,
    ) -> SelfSupervisedNet:
        """Build the model and its net and train it (runs in fit's seeded block)."""
        criterion = self._build_criterion()
        module = self._build_model()
        dataset = self._training_dataset(clips, targets, rng)
        return self._train(module, criterion, dataset, rng, clips=clips, epochs=epochs)

    # -- randomness ----------------------------------------------------------------------
    @property
    def _randomness(self) -> RunRandomness:
        """The streams of the training call under way (:mod:`skaudio._random`).

        The builders take their module seeds from it (``module_seed``,
        ``shared_seed``). Outside a training call (a builder called by hand) it is
        :meth:`RunRandomness.unseeded <skaudio._random.RunRandomness.unseeded>`: torch's
        global stream, process 0.
        """
        return self.__dict__.get("_run_randomness") or RunRandomness.unseeded()

    @contextmanager
    def _random_streams(self, randomness: RunRandomness):
        """Make ``randomness`` the call's (:attr:`_randomness`) and seed torch with it."""
        self._run_randomness = randomness
        try:
            with randomness.torch_stream(self.device_):
                yield randomness
        finally:
            del self._run_randomness

    def _start(self, clips: AudioClips, targets: np.ndarray | None, epochs: int) -> None:
        """A first fit of ``epochs`` epochs on validated ``clips``: sets the fitted attributes."""
        # a device that cannot be used fails before training
        self.device_ = resolve_device(self.device)
        self._check_checkpoint_dir()
        randomness = RunRandomness.from_random_state(self.random_state)
        if self.distributed:
            self.device_, process = join_processes(self.device_)
            randomness = randomness.for_process(process)
        self.precision_ = resolve_precision(self.precision, self.device_)
        with (
            self._random_streams(randomness),
            self._training_run(self.device_),
            cuda_training_flags(self.device_),
        ):
            self.net_ = self._pretrain(clips, targets, randomness.data, epochs=epochs)
        self.segment_length_ = self._segment_length

    def _continue_dataset(
        self, clips: AudioClips, targets: np.ndarray | None, rng: np.random.Generator
    ) -> Dataset:
        """What continued training (``partial_fit``, ``warm_start``) iterates over."""
        return self._training_dataset(clips, targets, rng)

    @staticmethod
    def _schedule_callback(net):
        """The net's :class:`~skaudio.training.LearningRateSchedule`, or None (an older net)."""
        return dict(getattr(net, "callbacks_", [])).get("lr_schedule")

    def _continue(self, clips: AudioClips, targets: np.ndarray | None, epochs: int) -> None:
        """Train the fitted net ``epochs`` more epochs on ``clips``, keeping optimiser state.

        The learning-rate schedule restarts over these epochs (a warm restart, as in
        SGDR), at the full rate: the warmup is repeated only for a net that never
        took an optimiser step (fitted with ``max_epochs=0``). An interrupted (or
        failed) continuation leaves the net as it was, module state included.
        """
        self._check_pretraining(clips)
        # a new stream per continuation: a function of random_state and of how far
        # training has gone, so that repeated calls do not redraw the same crops
        randomness = RunRandomness.from_random_state(self.random_state)
        randomness = randomness.continuation(len(self.net_.history))
        with self._random_streams(randomness):
            rng = randomness.data
            dataset = self._continue_dataset(clips, targets, rng)
            # set as skorch's set_params would (which refuses loader-only settings on an
            # initialised net); the data loader of the next epoch reads them
            for name, value in self._loader_settings(dataset).items():
                setattr(self.net_, name, value)
            # an interrupted (or failed) continuation leaves the net as it was
            snapshot = copy.deepcopy(net_state(self.net_, rng))
            try:
                self._prepare_model(self.net_.module_, dataset, clips, epochs, continuing=True)
                schedule = self._schedule_callback(self.net_)
                if schedule is not None:
                    schedule.begin_run(epochs, warmup=not self.net_.optimizer_.state)
                with cuda_training_flags(self.device_):
                    self.net_.partial_fit(dataset, None, epochs=epochs)
            except BaseException:
                restore_checkpoint(self.net_, snapshot, rng)
                raise
