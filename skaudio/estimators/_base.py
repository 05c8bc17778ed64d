"""The scikit-learn side shared by every embedder: validation, pretraining, embedding."""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    make_constraint,
)
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .._allocator import training_allocator
from .._torch_utils import (
    DEVICES,
    PRECISIONS,
    compile_in_place,
    cuda_training_flags,
    deterministic_algorithms,
    device_generators,
    is_device_name,
    resolve_device,
    resolve_precision,
    seeded,
)
from ..checkpoint import (
    EpochCheckpoint,
    clip_digests,
    data_fingerprint,
    load_checkpoint,
    net_state,
    restore_checkpoint,
)
from ..clips import AudioClips, ClipWindows, as_clips
from ..distributed import (
    convert_sync_batchnorm,
    distributed_net_class,
    global_batch_accelerator,
    join_processes,
    rank,
    to_plain_net,
)
from ..encoders import ENCODERS, FrameEncoder, make_encoder
from ..exceptions import DegenerateTrainingWarning
from ..features import LogMelSpectrogram
from ..segments import window_starts
from ..training import SelfSupervisedNet, batch_to_device, seed_worker, training_callbacks

__all__ = ["BaseAudioEmbedder"]


def _float32(frames: torch.Tensor) -> torch.Tensor:
    """Float frames as float32 (from bf16 or fp16 autocast, say); token ids unchanged."""
    return frames.float() if frames.is_floating_point() else frames


def _frames_kept(n_samples: int, model: nn.Module, n_frames: int) -> int:
    """Frames of a clip of ``n_samples`` that start inside it (at least one)."""
    return min(max(-(-n_samples // model.frame_hop), 1), n_frames)  # ceil


@contextmanager
def _evaluation_mode(model: nn.Module):
    """Put ``model`` in evaluation mode for the block, then restore its mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


class BaseAudioEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of the self-supervised audio embedders.

    ``fit`` validates the audio, builds the method's model, and pretrains it through a
    private skorch net stored as ``net_``. ``transform`` cuts each clip into windows of
    ``segment_seconds`` (the length seen in training; a shorter clip is centred in one
    zero-padded window), embeds the windows with the model in evaluation mode and
    averages them per clip.

    Batch norm: embeddings use the running statistics accumulated in pretraining.
    With ``max_epochs=0`` those are the initial ones (mean 0, variance 1), which makes
    the untrained model the "random-init encoder" baseline.

    Subclasses implement three hooks, and may override the others:

    - ``_build_model() -> EmbeddingModel``: the method's model, built in a seeded block;
    - ``_build_criterion() -> nn.Module``: its loss, a skorch criterion;
    - ``_training_dataset(clips, targets, rng) -> Dataset``: what one epoch iterates
      over (``clips`` is a :class:`skaudio.clips.AudioClips`: files are read on
      demand);
    - ``_check_targets(y, n_clips, continuing=False) -> ndarray or None``: validate
      and encode ``y`` (by default ``y`` is ignored: pretraining is self-supervised);
      ``continuing`` is True in continued training, which keeps the first fit's
      encoding;
    - ``_check_pretraining(clips)``: refuse (``ValueError``) or warn about
      (:class:`~skaudio.exceptions.DegenerateTrainingWarning`) settings and data that
      cannot train, before training starts.

    :meth:`transform_frames` returns each clip's frame sequence with time stamps
    (``model.embed_frames``, or what ``_frame_sequence`` picks); methods whose clip
    embedding is not a mean over windows override ``_embed_clips``.
    """

    _parameter_constraints: dict = {
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "segment_seconds": [Interval(Real, 0, None, closed="neither")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "encoder": [StrOptions({name for names in ENCODERS.values() for name in names})],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "warmup_epochs": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "device": [str],
        "precision": [StrOptions(set(PRECISIONS))],
        "compile": ["boolean"],
        "deterministic": ["boolean"],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "checkpoint_dir": [str, os.PathLike, None],
        "warm_start": ["boolean"],
        "distributed": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    #: parameters that do not change what is learnt: a checkpoint written under other
    #: values of these can be resumed
    _RUN_ONLY_PARAMS = frozenset(
        {
            "max_epochs",
            "device",
            "precision",
            "compile",
            "deterministic",
            "num_workers",
            "checkpoint_dir",
            "warm_start",
            "distributed",
            "verbose",
        }
    )

    def _validate_params(self) -> None:
        """scikit-learn's parameter validation, plus what its constraints let through.

        ``Interval(Integral, ...)`` accepts booleans (``bool`` is an ``Integral``):
        ``True`` is refused for every numeric parameter that does not also accept
        booleans. ``device`` must be one of :data:`skaudio._torch_utils.DEVICES`.
        Both raise :class:`~sklearn.utils._param_validation.InvalidParameterError`.
        """
        super()._validate_params()
        name = type(self).__name__
        for param, value in self.get_params(deep=False).items():
            if not isinstance(value, bool | np.bool_):
                continue
            accepted = [
                constraint
                for constraint in map(make_constraint, self._parameter_constraints.get(param, []))
                if constraint.is_satisfied_by(value)
            ]
            if accepted and all(isinstance(c, Interval) for c in accepted):
                raise InvalidParameterError(
                    f"The {param!r} parameter of {name} must be "
                    f"{' or '.join(map(str, accepted))}, not a bool. Got {value!r} instead."
                )
        if not is_device_name(self.device):
            raise InvalidParameterError(
                f"The 'device' parameter of {name} must be {DEVICES}. Got {self.device!r} instead."
            )

    # -- hooks -----------------------------------------------------------------------
    def _build_model(self) -> nn.Module:
        raise NotImplementedError

    def _build_criterion(self) -> nn.Module:
        raise NotImplementedError

    def _training_dataset(
        self,
        clips: AudioClips,
        targets: np.ndarray | None,
        rng: np.random.Generator,
    ) -> Dataset:
        raise NotImplementedError

    def _check_targets(self, y, n_clips: int, *, continuing: bool = False) -> np.ndarray | None:
        return None

    #: True for methods whose loss draws its negatives from the other clips of a batch
    _negatives_from_other_clips = False

    def _check_pretraining(self, clips: AudioClips) -> None:
        """Refuse or warn about pretraining that cannot learn, before it starts.

        Warns with :class:`~skaudio.exceptions.DegenerateTrainingWarning` when the
        loss needs negatives from other clips and a batch cannot hold two clips.
        Methods add their own checks (raising ``ValueError`` for what cannot train).
        """
        if self._negatives_from_other_clips and min(len(clips), self.batch_size) < 2:
            what = f"{len(clips)} clip" if len(clips) < 2 else f"batch_size={self.batch_size}"
            warnings.warn(
                f"{type(self).__name__} trains on {what}: a batch holds a single clip, so "
                "the contrastive loss has no negatives (loss 0, pretext accuracy 1) and "
                "the encoder learns nothing; fit on at least 2 clips with batch_size >= 2",
                DegenerateTrainingWarning,
                stacklevel=4,
            )

    # -- shared building blocks ----------------------------------------------------
    def _build_frontend(self) -> LogMelSpectrogram:
        return LogMelSpectrogram(sample_rate=self.sample_rate, n_mels=self.n_mels)

    def _build_encoder(
        self, input_representation: str = "logmel", readout_bands: int = 1
    ) -> nn.Module:
        return make_encoder(
            self.encoder,
            n_mels=self.n_mels,
            embedding_dim=self.embedding_dim,
            input_representation=input_representation,
            readout_bands=readout_bands,
        )

    @property
    def _segment_length(self) -> int:
        return max(1, round(self.segment_seconds * self.sample_rate))

    def _new_net(
        self,
        module: nn.Module,
        criterion: nn.Module,
        callbacks: list | None = None,
        *,
        distributed: bool = False,
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
        ``warmup_epochs``), the net's callback ``"lr_schedule"``.
        """
        self._compile_encoders(module)
        metric_names = getattr(criterion, "metric_names", ())
        verbose = int(self.verbose) if rank() == 0 else 0  # progress from one process
        precision = getattr(self, "precision_", "fp32")
        cuda = self.device_.startswith("cuda")
        settings = dict(
            criterion=criterion,
            optimizer=torch.optim.AdamW,
            lr=self.lr,
            optimizer__weight_decay=self.weight_decay,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None,
            iterator_train__shuffle=True,
            iterator_train__pin_memory=cuda,
            iterator_train__num_workers=self.num_workers,
            iterator_train__worker_init_fn=seed_worker,
            callbacks=training_callbacks(
                metric_names, verbose, self.lr_schedule, self.warmup_epochs
            )
            + (callbacks or []),
            verbose=verbose,
        )
        if cuda:  # one kernel for all the parameters' updates
            settings["optimizer__fused"] = True
        if not distributed:
            return SelfSupervisedNet(
                module=module, device=self.device_, precision=precision, **settings
            )
        accelerator = global_batch_accelerator(
            self.device_, self.batch_size, mixed_precision=precision
        )
        for generator in device_generators(module):  # other augmentations per process
            generator.seed += accelerator.process_index
        module = convert_sync_batchnorm(module, device=accelerator.device)
        return distributed_net_class()(
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

    def _checkpoint_manifest(
        self, stage: str, clips: AudioClips, digests: np.ndarray | None = None
    ) -> dict:
        """What a checkpoint of ``stage`` must match to be resumed by this fit.

        The estimator, its learning parameters and the data: number of clips, of
        samples, and a fingerprint of the clips (``digests``, see
        :func:`skaudio.checkpoint.clip_digests`), so that other data of the same
        shape is not mistaken for the checkpoint's. With ``lr_schedule="cosine"``
        also ``max_epochs``, over which the learning rate decays: such a run cannot
        be extended (its rate is already near 0), only resumed.
        """
        run_only = self._RUN_ONLY_PARAMS
        if self.lr_schedule == "cosine":
            run_only = run_only - {"max_epochs"}
        params = {
            name: repr(value)
            for name, value in sorted(self.get_params(deep=False).items())
            if name not in run_only
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

    def _train(
        self,
        module: nn.Module,
        criterion: nn.Module,
        dataset,
        rng: np.random.Generator,
        *,
        clips: AudioClips,
        stage: str = "model",
        trained_on: dict | None = None,
    ) -> SelfSupervisedNet:
        """Train a new net on ``dataset`` for ``max_epochs``, resuming from a checkpoint.

        With ``checkpoint_dir`` set, the net is saved after every epoch to
        ``<checkpoint_dir>/<stage>.pt``, and a checkpoint already there (from an
        interrupted fit of the same configuration on the same ``clips``) is loaded
        first: training continues from its last complete epoch, with its random
        states and its place in the learning-rate schedule (which spans the
        ``max_epochs``), up to ``max_epochs`` in all.

        ``trained_on`` adds manifest entries for what the stage's input came from
        (e.g. the fingerprint of the tokenizer a later stage learns on): a checkpoint
        that differs only in those is stale, and the stage is trained from scratch
        (overwriting it) instead of resumed. A ``KeyboardInterrupt`` propagates, after
        the last complete epoch was saved.
        """
        if self.max_epochs == 0 and self.checkpoint_dir is None:
            return self._new_net(module, criterion).initialize()
        callbacks = []
        if self.checkpoint_dir is not None:
            path = Path(self.checkpoint_dir) / f"{stage}.pt"
            digests = clip_digests(clips)
            manifest = {**self._checkpoint_manifest(stage, clips, digests), **(trained_on or {})}
            writer = EpochCheckpoint(path, manifest, rng, is_writer=rank() == 0, digests=digests)
            callbacks.append(("checkpoint", writer))
        net = self._new_net(module, criterion, callbacks, distributed=self.distributed)
        net.initialize()
        state = None
        if self.checkpoint_dir is not None and path.exists():
            state = load_checkpoint(
                path, manifest, digests=digests, clips=clips, restart_on=tuple(trained_on or ())
            )
        if state is not None:
            if state["epochs"] > self.max_epochs:
                raise ValueError(
                    f"checkpoint {os.fspath(path)!r} holds {state['epochs']} epochs, more than "
                    f"max_epochs={self.max_epochs}; raise max_epochs or use another "
                    "checkpoint_dir"
                )
            restore_checkpoint(net, state, rng)
        remaining = self.max_epochs - len(net.history)
        if remaining > 0:
            net.partial_fit(dataset, None, epochs=remaining)
        if self.checkpoint_dir is not None:
            # the checkpoint is this fit's: continued training (partial_fit,
            # warm_start), maybe on other data, must not write under its manifest
            scaler = {n: c.state_dict() for n, c in net.callbacks_ if n == "grad_scaler"}
            net.callbacks = [c for c in net.callbacks if c[0] != "checkpoint"]
            net.initialize_callbacks()
            for name, callback in net.callbacks_:
                if name in scaler:  # fp16's loss scale goes on with continued training
                    callback.load_state_dict(scaler[name])
        # a net holding an accelerator does not pickle: keep the trained parts only
        return to_plain_net(net) if self.distributed else net

    def _pretrain(
        self, clips: AudioClips, targets: np.ndarray | None, rng: np.random.Generator
    ) -> SelfSupervisedNet:
        """Build the model and its net and train it (runs in fit's seeded block)."""
        criterion = self._build_criterion()
        module = self._build_model()
        dataset = self._training_dataset(clips, targets, rng)
        return self._train(module, criterion, dataset, rng, clips=clips)

    def _seed(self) -> int:
        """The run's seed, drawn from ``random_state``."""
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _continue_dataset(
        self, clips: AudioClips, targets: np.ndarray | None, rng: np.random.Generator
    ) -> Dataset:
        """What continued training (``partial_fit``, ``warm_start``) iterates over."""
        return self._training_dataset(clips, targets, rng)

    @staticmethod
    def _schedule_callback(net):
        """The net's :class:`~skaudio.training.LearningRateSchedule`, or None (an older net)."""
        return dict(getattr(net, "callbacks_", [])).get("lr_schedule")

    def _continue(self, X, y, epochs: int) -> None:
        """Train the fitted net ``epochs`` more epochs on ``X``, keeping optimiser state.

        The learning-rate schedule restarts over these epochs (a warm restart, as in
        SGDR), at the full rate: the warmup is repeated only for a net that never took
        an optimiser step (fitted with ``max_epochs=0``).
        """
        self._fitted_model()  # fitted, at the same sample rate
        clips = as_clips(X, sample_rate=self.sample_rate)
        targets = self._check_targets(y, len(clips), continuing=True)
        if epochs == 0:
            return
        self._check_pretraining(clips)
        # a new stream per continuation: a function of random_state and of how far
        # training has gone, so that repeated calls do not redraw the same crops
        sequence = np.random.SeedSequence([self._seed(), len(self.net_.history)])
        seed = int(sequence.generate_state(1)[0] >> 1)
        with seeded(seed, self.device_):
            rng = np.random.default_rng(seed)
            dataset = self._continue_dataset(clips, targets, rng)
            # an interrupted (or failed) continuation leaves the net as it was
            snapshot = copy.deepcopy(net_state(self.net_, rng))
            schedule = self._schedule_callback(self.net_)
            if schedule is not None:
                schedule.begin_run(epochs, warmup=not self.net_.optimizer_.state)
            try:
                with cuda_training_flags(self.device_):
                    self.net_.partial_fit(dataset, None, epochs=epochs)
            except BaseException:
                restore_checkpoint(self.net_, snapshot, rng)
                raise

    # -- scikit-learn API ------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Pretrain the embedder on unlabelled audio.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
            Audio at ``sample_rate`` (see :func:`skaudio.io.check_audio`).
        y : None or array-like of shape (n_clips,)
            Ignored by self-supervised methods (present for pipeline compatibility);
            methods that can use labels document it.

        Returns
        -------
        self : object
            The fitted embedder.

        Raises
        ------
        KeyboardInterrupt
            If training is interrupted (Ctrl-C): the estimator is left as it was
            before the call (unfitted after a first fit), never half-trained; with
            ``checkpoint_dir``, fitting again resumes from the last complete epoch.
        """
        if self.warm_start and self.__sklearn_is_fitted__():
            with self._training_run(self.device_):
                self._compile_encoders(self.net_.module_)
                self._continue(X, y, epochs=self.max_epochs)
            return self
        before = dict(self.__dict__)
        try:
            clips = as_clips(X, sample_rate=self.sample_rate)
            targets = self._check_targets(y, len(clips))
            if self.max_epochs > 0:
                self._check_pretraining(clips)
            # a device that cannot be used fails before training
            self.device_ = resolve_device(self.device)
            self._check_checkpoint_dir()
            seed = self._seed()
            process = 0
            if self.distributed:
                self.device_, process = join_processes(self.device_)
            self.precision_ = resolve_precision(self.precision, self.device_)
            # each process of a distributed run crops its clips with its own stream
            data_seed = [seed, process] if process else seed
            with (
                seeded(seed, self.device_),
                self._training_run(self.device_),
                cuda_training_flags(self.device_),
            ):
                self.net_ = self._pretrain(clips, targets, np.random.default_rng(data_seed))
            self.segment_length_ = self._segment_length
        except BaseException:  # refused, interrupted or failed: no half-fitted attributes
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Pretrain one more epoch, on ``X`` (the first call also builds the model).

        Continues the same network and optimiser state, so pretraining can go on as
        new unlabelled audio arrives; the first call is ``fit`` with one epoch. An
        interrupted call (``KeyboardInterrupt``) leaves the estimator as it was.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
            Audio at ``sample_rate``.
        y : None or array-like of shape (n_clips,)
            As in :meth:`fit`.

        Returns
        -------
        self : object
        """
        if not self.__sklearn_is_fitted__():
            max_epochs = self.max_epochs
            try:
                self.max_epochs = 1
                self.fit(X, y)
            finally:
                self.max_epochs = max_epochs
            return self
        with self._training_run(self.device_):
            self._compile_encoders(self.net_.module_)
            self._continue(X, y, epochs=1)
        return self

    def transform(self, X) -> np.ndarray:
        """Embed clips.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
            Audio at ``sample_rate``; clips may have any length.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, embedding_dim), dtype float32
        """
        model = self._fitted_model()
        return self._embed_clips(model, as_clips(X, sample_rate=self.sample_rate))

    def transform_frames(self, X) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Embed every frame of every clip, with its time stamp.

        Each clip is embedded whole (not in windows), so frames see their true
        neighbours; clips shorter than ``segment_seconds`` are zero-padded at the end to
        that length and only the frames that start inside the clip are kept (at least
        one). The frames do not depend on which other clips are in ``X``.

        Frames are ``model.frame_hop`` samples apart: at most 50 ms for the
        convolutional encoders of COLA and the two-view estimator (HEAR's guidance).
        An encoder whose own frames are coarser (160 ms for the CNN) runs on ``k``
        shifted copies of the clip and its frames are interleaved
        (:meth:`skaudio.models.EmbeddingModel.embed_frames`): an exact evaluation of
        the same network at a finer hop, which costs ``k`` times the frame pass. Every
        ``k``-th frame (``model.frame_interleave``), from the first, is a frame that
        the clip embedding of :meth:`transform` pools.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
            Audio at ``sample_rate``; clips may have any length.

        Returns
        -------
        embeddings : list of ndarray of shape (n_frames_i, frame_dim), dtype float32
            One array per clip; ``frame_dim`` is the model's frame size (for the
            convolutional encoders ``embedding_dim / 2``: the clip embedding of
            :meth:`transform` is the mean and max of such frames over windows).
        timestamps : list of ndarray of shape (n_frames_i,), dtype float64
            Centre of each frame, in seconds from the start of the clip.
        """
        model = self._fitted_model()
        return self._embed_frames(model, as_clips(X, sample_rate=self.sample_rate))

    def _frame_sequence(self, model: nn.Module, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, n_samples) -> (batch, n_frames, frame_dim); methods may pick other features."""
        return model.embed_frames(waveforms)

    def _fitted_model(self) -> nn.Module:
        check_is_fitted(self)
        model = self.net_.module_
        if self.sample_rate != model.sample_rate:
            raise ValueError(
                f"sample_rate was changed to {self.sample_rate} after fitting at "
                f"{model.sample_rate} Hz; refit, or set it back"
            )
        return self._compile_encoders(model)

    def _embed_frames(self, model: nn.Module, clips: AudioClips, sequence=None):
        """Frame sequences per clip, batching clips of equal (padded) length.

        ``sequence(waveforms) -> (batch, n_frames, ...)`` defaults to
        ``_frame_sequence``; float outputs are returned as float32. Clips are read
        one batch at a time (each whole: frames see their true neighbours). A batch
        holds at most ``batch_size`` clips and at most the samples of a training
        batch (``batch_size * segment_length_``), or a single clip, whatever its
        length: long clips are embedded one at a time.
        """
        sequence = sequence or (lambda batch: self._frame_sequence(model, batch))
        device = self.net_.device
        embeddings: list[np.ndarray] = [np.empty(0)] * len(clips)
        timestamps: list[np.ndarray] = [np.empty(0)] * len(clips)
        with _evaluation_mode(model), torch.inference_mode():
            for batch, length in self._clip_batches(clips.lengths):
                padded = np.zeros((len(batch), length), dtype=np.float32)
                for row, index in enumerate(batch):
                    padded[row, : clips.lengths[index]] = clips[index]
                frames = _float32(sequence(batch_to_device(torch.from_numpy(padded), device)))
                frames = frames.cpu().numpy()
                for row, index in enumerate(batch):
                    n_kept = _frames_kept(int(clips.lengths[index]), model, frames.shape[1])
                    embeddings[index] = frames[row, :n_kept].copy()
                    timestamps[index] = model.frame_times(n_kept)
        return embeddings, timestamps

    def _clip_batches(self, lengths: np.ndarray) -> Iterator[tuple[np.ndarray, int]]:
        """Batches of whole clips: ``(indices, padded_length)``, shortest clips first.

        Each clip is zero-padded at the end to at least ``segment_length_`` samples and
        batched with clips of the same padded length (so no clip is padded for another
        one): at most ``batch_size`` clips and at most the samples of a training batch
        (``batch_size * segment_length_``) per batch, or a single clip, whatever its
        length. The memory of embedding (the frontend's spectrograms, the encoder's
        activations) is then bounded by that of a training batch, not by
        ``batch_size`` times the longest clip.

        Parameters
        ----------
        lengths : ndarray of shape (n_clips,)
            Samples of each clip.

        Yields
        ------
        indices : ndarray of shape (n_rows,), int64
            Clips of the batch, in their order among clips of that length.
        padded_length : int
        """
        lengths = np.maximum(lengths, self.segment_length_)
        order = np.argsort(lengths, kind="stable")
        max_samples = self.batch_size * self.segment_length_
        for length in np.unique(lengths):
            same = order[lengths[order] == length]
            n_rows = int(max(1, min(self.batch_size, max_samples // length)))
            for start in range(0, len(same), n_rows):
                yield same[start : start + n_rows], int(length)

    def _embed_frames_tensor(
        self, model: nn.Module, audio: torch.Tensor, sequence=None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """:meth:`_embed_frames` of equal-length clips held in a tensor, where it is.

        ``audio`` (n_clips, n_samples), float32, on the model's device, stays there
        through the frontend and the encoder, batched as :meth:`_embed_frames` batches
        it: the frames equal its arrays. Returns the frames (n_clips, n_kept, ...) on
        that device and their time stamps (n_kept,), in seconds.
        """
        sequence = sequence or (lambda batch: self._frame_sequence(model, batch))
        n_clips, n_samples = audio.shape
        pieces = []
        with _evaluation_mode(model), torch.inference_mode():
            for batch, length in self._clip_batches(np.full(n_clips, n_samples)):
                # one length: the batches are consecutive rows, in order
                waveforms = audio[int(batch[0]) : int(batch[-1]) + 1]
                waveforms = torch.nn.functional.pad(waveforms, (0, length - n_samples))
                pieces.append(_float32(sequence(waveforms)))
        frames = torch.cat(pieces)
        n_kept = _frames_kept(n_samples, model, frames.shape[1])
        return frames[:, :n_kept], model.frame_times(n_kept)

    #: True for methods whose clip embedding pools the frames of the whole clip
    #: (``_pool_frames``) instead of averaging window embeddings
    _embeds_whole_clips = False

    def _pool_frames(self, frames: np.ndarray) -> np.ndarray:
        """(n_frames, dim) -> clip embedding; the mean over time unless a method says otherwise."""
        return frames.mean(axis=0)

    def _embed_clips(self, model: nn.Module, clips: AudioClips) -> np.ndarray:
        """Clip embeddings: the mean of window embeddings, or pooled whole-clip frames."""
        if self._embeds_whole_clips:
            frames, _ = self._embed_frames(model, clips)
            return np.stack([self._pool_frames(f) for f in frames]).astype(np.float32)
        return self._embed_windows(model, clips)

    def _embed_clips_tensor(self, model: nn.Module, audio: torch.Tensor) -> torch.Tensor:
        """:meth:`_embed_clips` of equal-length clips held in a tensor, where it is.

        ``audio`` (n_clips, n_samples), float32, on the model's device, stays there
        through the frontend and the encoder, in the batches of :meth:`_embed_clips`:
        the embeddings (n_clips, n_features), float32, on that device, equal its.
        Whole-clip methods pool their frames with :meth:`_pool_frames` (NumPy), on
        the host.
        """
        if not self._embeds_whole_clips:
            return self._embed_windows_tensor(model, audio)
        frames, _ = self._embed_frames_tensor(model, audio)
        pooled = np.stack([self._pool_frames(f) for f in frames.cpu().numpy()])
        return torch.from_numpy(pooled.astype(np.float32)).to(audio.device)

    def _embed_windows_tensor(self, model: nn.Module, audio: torch.Tensor) -> torch.Tensor:
        """:meth:`_embed_windows` of equal-length clips held in a tensor, where it is.

        The windows of :func:`skaudio.segments.sliding_windows`, cut by one gather on
        the tensor's device, are embedded in the batches of
        :class:`skaudio.clips.ClipWindows` and averaged per clip in float64 in their
        order, as :meth:`_embed_windows` averages them: the embeddings
        (n_clips, embedding_dim), float32, equal its.
        """
        n_clips, n_samples = audio.shape
        length = self.segment_length_
        if n_samples <= length:  # one window, the clip centred in it
            start = (length - n_samples) // 2
            windows = torch.nn.functional.pad(audio, (start, length - n_samples - start))[:, None]
        else:
            starts = torch.tensor(window_starts(n_samples, length), device=audio.device)
            offsets = starts[:, None] + torch.arange(length, device=audio.device)
            windows = audio[:, offsets]  # (n_clips, n_windows, length)
        n_windows = windows.shape[1]
        flat = windows.reshape(n_clips * n_windows, length)
        with _evaluation_mode(model), torch.inference_mode():
            embeddings = torch.cat(
                [
                    model.embed(flat[start : start + self.batch_size]).float()
                    for start in range(0, len(flat), self.batch_size)
                ]
            ).reshape(n_clips, n_windows, -1)
            sums = torch.zeros(embeddings.shape[::2], dtype=torch.float64, device=audio.device)
            for window in range(n_windows):  # the order of np.add.at in _embed_windows
                sums += embeddings[:, window]
        return (sums / n_windows).float()

    def _embed_windows(self, model: nn.Module, clips: AudioClips) -> np.ndarray:
        """Mean of the window embeddings of each clip, computed in batches of windows.

        Windows are read by a data loader over :class:`skaudio.clips.ClipWindows`
        (``num_workers`` processes read files in parallel); a long file is streamed,
        so memory holds a batch of windows, never a whole file.
        """
        device = self.net_.device
        sums = np.zeros((len(clips), model.encoder.embedding_dim), dtype=np.float64)
        counts = np.zeros(len(clips), dtype=np.int64)
        loader = DataLoader(
            ClipWindows(clips, self.segment_length_, self.batch_size),
            batch_size=None,  # the dataset yields whole batches
            num_workers=self.num_workers,
            pin_memory=torch.device(device).type == "cuda",  # asynchronous copies
        )
        with _evaluation_mode(model), torch.inference_mode():
            for owners, windows in loader:
                windows = batch_to_device(windows, device)
                embeddings = model.embed(windows).float().cpu().numpy()
                owners = owners.numpy()
                np.add.at(sums, owners, embeddings)
                np.add.at(counts, owners, 1)
        return (sums / counts[:, None]).astype(np.float32)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_")

    @property
    def history_(self):
        """skorch ``History`` of pretraining: loss and pretext metrics per epoch."""
        check_is_fitted(self)
        return self.net_.history

    @property
    def _n_features_out(self) -> int:
        return self.embedding_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
