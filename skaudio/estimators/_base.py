"""The scikit-learn side of every embedder, and its two families.

:class:`BaseAudioEmbedder` is the scikit-learn surface: parameter validation, ``fit``,
``partial_fit`` and ``warm_start`` through one inner step (:meth:`~BaseAudioEmbedder._fit`,
which hands over to the trainer, :mod:`skaudio.estimators._trainer`), and
``transform_frames``. Two families own ``transform``, as scikit-learn's
``decomposition/_base.py`` gives PCA's family its own:

- :class:`BaseWindowEmbedder` (COLA, the two-view estimator) averages the embeddings of
  windows of ``segment_seconds``;
- :class:`BaseSequenceEmbedder` (CPC, the token transformer) pools the frame sequence
  of the whole clip (``_pool_frames``).

Every loop that embeds is in :mod:`skaudio._inference`, which the HEAR adapter runs too
(through ``_transform_tensor`` and ``_transform_frames_tensor``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.utils.data import Dataset

from .. import _inference
from .._compat import Interval, InvalidParameterError, StrOptions, _fit_context, make_constraint
from .._torch_utils import DEVICES, is_device_name
from ..clips import AudioClips, as_clips
from ..encoders import ENCODERS, make_encoder
from ..exceptions import DegenerateTrainingWarning
from ..features import LogMelSpectrogram, make_frontend
from ._params import RUN_ONLY_PARAMS, SHARED_CONSTRAINTS, document_shared_parameters
from ._trainer import TrainerMixin

__all__ = ["BaseAudioEmbedder", "BaseSequenceEmbedder", "BaseWindowEmbedder"]


class BaseAudioEmbedder(
    TrainerMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Base class of the self-supervised audio embedders.

    ``fit`` validates the audio, builds the method's model, and pretrains it through a
    private skorch net stored as ``net_`` (the trainer,
    :mod:`skaudio.estimators._trainer`). ``transform`` is a family's
    (:class:`BaseWindowEmbedder`, :class:`BaseSequenceEmbedder`).

    Batch norm: embeddings use the running statistics accumulated in pretraining.
    With ``max_epochs=0`` those are the initial ones (mean 0, variance 1), which makes
    the untrained model the "random-init encoder" baseline.

    Subclasses implement three hooks:

    - ``_build_model() -> EmbeddingModel``: the method's model, built in a seeded block;
    - ``_build_criterion() -> nn.Module``: its loss, a skorch criterion;
    - ``_training_dataset(clips, targets, rng) -> Dataset``: what one epoch iterates
      over (``clips`` is a :class:`skaudio.clips.AudioClips`: files are read on
      demand);

    and may override these:

    - ``_check_targets(y, n_clips, continuing=False) -> ndarray or None``: validate
      and encode ``y`` (by default ``y`` is ignored: pretraining is self-supervised);
      ``continuing`` is True in continued training, which keeps the first fit's
      encoding;
    - ``_check_pretraining(clips)``: refuse (``ValueError``) or warn about
      (:class:`~skaudio.exceptions.DegenerateTrainingWarning`) settings and data that
      cannot train, before training starts (``_negatives_from_other_clips`` turns on
      the warning about batches of one clip);
    - ``_prepare_model(module, dataset, clips, epochs, continuing=...)``: set the
      model's data-dependent state before training (dataset statistics, the length
      of a momentum schedule);
    - ``_pretrain(clips, targets, rng, epochs=...)``: train several stages, each with
      ``_train``; ``_fit_callbacks(module)`` and ``_end_training(net, module)``: callbacks of a
      first fit only (validation, early stopping) and what follows it;
      ``_continue_dataset``: what continued training iterates over;
    - ``_frame_sequence(model, waveforms)``: the frames of :meth:`transform_frames`.

    Parameters shared by every embedder (training, devices, checkpoints) have one
    definition, in :mod:`skaudio.estimators._params`: their constraints are in
    ``_parameter_constraints``, and a docstring's ``{shared_parameters}`` line becomes
    their documentation, with the estimator's defaults and its ``_parameter_notes``.
    """

    _parameter_constraints: dict = {
        "sample_rate": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        **SHARED_CONSTRAINTS,
    }

    #: parameters that do not change what is learnt: a checkpoint written under other
    #: values of these can be resumed
    _RUN_ONLY_PARAMS = RUN_ONLY_PARAMS

    #: learning parameters a checkpoint records only when they differ from these values,
    #: the behaviour from before each parameter existed: checkpoints written then resume
    _UNRECORDED_DEFAULTS: dict = {"frequency_scale": "mel"}

    #: the estimator's own sentence after a shared parameter's documentation
    _parameter_notes: dict = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        document_shared_parameters(cls)

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

    def __setstate__(self, state: dict) -> None:
        """Read a pickle from before ``frequency_scale`` (the frontend was log-mel)."""
        super().__setstate__({"frequency_scale": "mel", **state})

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

    @property
    def _segment_length(self) -> int:
        """Samples of a training crop (and of the shortest embedded clip)."""
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
                stacklevel=5,
            )

    def _build_frontend(self) -> LogMelSpectrogram:
        return make_frontend(self.sample_rate, self.n_mels, self.frequency_scale)

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
        return self._fit(X, y, epochs=self.max_epochs, continuing=self.warm_start)

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
        return self._fit(X, y, epochs=1, continuing=True)

    def _fit(self, X, y, *, epochs: int, continuing: bool):
        """The one step of ``fit``, ``partial_fit`` and ``warm_start``: ``epochs`` epochs.

        A fitted embedder with ``continuing`` trains its net further
        (:meth:`~skaudio.estimators._trainer.TrainerMixin._continue`); otherwise a
        first fit builds and trains one
        (:meth:`~skaudio.estimators._trainer.TrainerMixin._start`). A first fit that
        is refused, interrupted or fails leaves no half-fitted attribute.
        """
        if continuing and self.__sklearn_is_fitted__():
            with self._training_run(self.device_):
                self._compile_encoders(self.net_.module_)
                self._fitted_model()  # fitted, at the same sample rate
                clips = as_clips(X, sample_rate=self.sample_rate)
                targets = self._check_targets(y, len(clips), continuing=True)
                if epochs > 0:
                    self._continue(clips, targets, epochs)
            return self
        before = dict(self.__dict__)
        try:
            clips = as_clips(X, sample_rate=self.sample_rate)
            targets = self._check_targets(y, len(clips))
            if epochs > 0:
                self._check_pretraining(clips)
            self._start(clips, targets, epochs)
        except BaseException:  # refused, interrupted or failed: no half-fitted attributes
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        return self

    def transform_frames(self, X) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Embed every frame of every clip, with its time stamp.

        Each clip is embedded whole (not in windows), so frames see their true
        neighbours; clips shorter than the training crop are zero-padded at the end
        to that length and only the frames that start inside the clip are kept (at
        least one). The frames do not depend on which other clips are in ``X``.

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
        return self._frames(model, as_clips(X, sample_rate=self.sample_rate))

    def _transform_frames_tensor(self, audio: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """:meth:`transform_frames` of equal-length clips in a tensor, on its device.

        ``audio`` (n_clips, n_samples), float32, on the model's device. Returns the
        frames (n_clips, n_kept, frame_dim) there and their time stamps (n_kept,).
        """
        model = self._fitted_model()
        return self._frames_tensor(model, audio)

    def _frame_sequence(self, model: nn.Module, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, n_samples) -> (batch, n_frames, frame_dim); methods may pick other features."""
        return model.embed_frames(waveforms)

    def _frames(self, model: nn.Module, clips: AudioClips, sequence=None):
        """:func:`skaudio._inference.embed_frames` at this embedder's settings.

        ``sequence(waveforms)`` defaults to :meth:`_frame_sequence` (looked up at
        each batch, as are the estimator's attributes).
        """
        return _inference.embed_frames(
            model,
            clips,
            sequence or (lambda batch: self._frame_sequence(model, batch)),
            segment_length=self.segment_length_,
            batch_size=self.batch_size,
            device=self.net_.device,
        )

    def _frames_tensor(self, model: nn.Module, audio: torch.Tensor, sequence=None):
        """:func:`skaudio._inference.embed_frames_tensor` at this embedder's settings."""
        return _inference.embed_frames_tensor(
            model,
            audio,
            sequence or (lambda batch: self._frame_sequence(model, batch)),
            segment_length=self.segment_length_,
            batch_size=self.batch_size,
        )

    def _clip_batches(self, lengths: np.ndarray) -> Iterator[tuple[np.ndarray, int]]:
        """:func:`skaudio._inference.clip_batches` at this embedder's settings."""
        return _inference.clip_batches(lengths, self.segment_length_, self.batch_size)

    def _fitted_model(self) -> nn.Module:
        check_is_fitted(self)
        model = self.net_.module_
        if self.sample_rate != model.sample_rate:
            raise ValueError(
                f"sample_rate was changed to {self.sample_rate} after fitting at "
                f"{model.sample_rate} Hz; refit, or set it back"
            )
        return self._compile_encoders(model)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "net_")

    @property
    def history_(self):
        """skorch ``History`` of pretraining: loss and pretext metrics per epoch."""
        check_is_fitted(self)
        return self.net_.history

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class BaseWindowEmbedder(BaseAudioEmbedder):
    """Embedders whose clip embedding is the mean of window embeddings (COLA, SimCLR).

    ``transform`` cuts each clip into windows of ``segment_seconds`` (the length seen
    in training; a shorter clip is centred in one zero-padded window), embeds the
    windows with the model in evaluation mode and averages them per clip. The encoder
    is one of :func:`skaudio.encoders.make_encoder`'s (``encoder``, ``embedding_dim``).
    """

    _parameter_constraints: dict = {
        **BaseAudioEmbedder._parameter_constraints,
        "segment_seconds": [Interval(Real, 0, None, closed="neither")],
        "encoder": [StrOptions({name for names in ENCODERS.values() for name in names})],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
    }

    @property
    def _segment_length(self) -> int:
        return max(1, round(self.segment_seconds * self.sample_rate))

    def __setstate__(self, state: dict) -> None:
        """Read a pickle fitted before ``readout_bands_`` (the readout was the integer
        ``readout_bands``, 1 before that parameter existed)."""
        if "net_" in state and "readout_bands_" not in state:
            state = {**state, "readout_bands_": state.get("readout_bands", 1)}
        super().__setstate__(state)

    def _build_encoder(
        self, input_representation: str = "logmel", readout_bands: int | str = 1
    ) -> nn.Module:
        return make_encoder(
            self.encoder,
            n_mels=self.n_mels,
            embedding_dim=self.embedding_dim,
            input_representation=input_representation,
            readout_bands=readout_bands,
        )

    def transform(self, X) -> np.ndarray:
        """Embed clips: the mean of the embeddings of their windows.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
            Audio at ``sample_rate``; clips may have any length.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, embedding_dim), dtype float32
        """
        model = self._fitted_model()
        return _inference.embed_windows(
            model,
            as_clips(X, sample_rate=self.sample_rate),
            segment_length=self.segment_length_,
            batch_size=self.batch_size,
            device=self.net_.device,
            num_workers=self.num_workers,
        )

    def _transform_tensor(self, audio: torch.Tensor) -> torch.Tensor:
        """:meth:`transform` of equal-length clips in a tensor, on its device (the same values)."""
        return _inference.embed_windows_tensor(
            self._fitted_model(),
            audio,
            segment_length=self.segment_length_,
            batch_size=self.batch_size,
        )

    @property
    def _n_features_out(self) -> int:
        return self.embedding_dim


class BaseSequenceEmbedder(BaseAudioEmbedder):
    """Embedders whose clip embedding pools the frame sequence of the whole clip (CPC, tokens).

    ``transform`` pools (``_pool_frames``, the mean over time unless a method says
    otherwise) the frames that :meth:`transform_frames` returns: a sequence model
    (a context network, a transformer) sees the whole clip, not windows of it.
    """

    def _pool_frames(self, frames: np.ndarray) -> np.ndarray:
        """(n_frames, dim) -> clip embedding; the mean over time unless a method says otherwise."""
        return frames.mean(axis=0)

    def transform(self, X) -> np.ndarray:
        """Embed clips: their whole frame sequence, pooled over time.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
            Audio at ``sample_rate``; clips may have any length.

        Returns
        -------
        embeddings : ndarray of shape (n_clips, n_features), dtype float32
        """
        model = self._fitted_model()
        frames, _ = self._frames(model, as_clips(X, sample_rate=self.sample_rate))
        return np.stack([self._pool_frames(f) for f in frames]).astype(np.float32)

    def _transform_tensor(self, audio: torch.Tensor) -> torch.Tensor:
        """:meth:`transform` of equal-length clips in a tensor: frames on its device,
        pooled on the host by :meth:`_pool_frames` (the same values)."""
        frames, _ = self._frames_tensor(self._fitted_model(), audio)
        pooled = np.stack([self._pool_frames(f) for f in frames.cpu().numpy()])
        return torch.from_numpy(pooled.astype(np.float32)).to(audio.device)
