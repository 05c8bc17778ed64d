"""CPCEmbedder: contrastive predictive coding on raw audio or log-mel spectrograms."""

from __future__ import annotations

import hashlib
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch

from .._compat import Interval, StrOptions
from ..data import GroupSampler, SegmentDataset
from ..encoders import ENCODERS, CPCWaveformEncoder, make_encoder
from ..exceptions import DegenerateTrainingWarning
from ..losses import CPCCriterion
from ..models import CPCModel
from ..models._base import EmbeddingModel
from ..models.cpc import make_context_network
from ._base import BaseSequenceEmbedder

__all__ = ["CPCEmbedder"]

#: default number of predicted steps: 12 frames of 10 ms (raw), 4 patches of 80 ms (log-mel)
DEFAULT_N_PREDICT = {"waveform": 12, "logmel": 4}

#: default length of the training crop, in seconds (32 raw frames of 10 ms at 16 kHz); the
#: deprecated ``window_seconds`` counts as set alone while ``segment_seconds`` equals it
DEFAULT_SEGMENT_SECONDS = 0.32


def _fingerprint(codes: np.ndarray) -> str:
    """A short digest of integer group codes (a checkpoint's record of the groups)."""
    return hashlib.sha256(np.ascontiguousarray(codes, dtype=np.int64).tobytes()).hexdigest()[:16]


class CPCEmbedder(BaseSequenceEmbedder):
    """Self-supervised audio embeddings by contrastive predictive coding (van den Oord, 2018).

    An encoder turns a training crop into a sequence ``z_t`` (raw audio: strided 1-D
    convolutions, one ``z_t`` per 160 samples; log-mel: one ``z_t`` per patch of 8
    frames); a causal context network (GRU or transformer) summarises ``z_1..z_t``
    into ``c_t``; for every step ``k = 1..n_predict`` a linear map ``W_k c_t`` must
    pick the true ``z_t+k`` among negatives (InfoNCE, dot-product scores). The
    per-step prediction accuracy is logged in ``history_``.

    ``transform`` runs the encoder and context over each whole clip (any length) and
    pools the sequence over time; :meth:`transform_frames` returns the sequence itself
    with time stamps. A clip longer than ``CPCModel.max_chunk_frames`` frames (2048:
    20 s of raw audio at 16 kHz) is embedded in chunks, so memory stays bounded: the
    GRU context carries its state across chunks (the same contexts as one pass), the
    transformer context attends within overlapping chunks of that many frames.

    Parameters
    ----------
    sample_rate : int, default=16000
        Rate of array input, and the rate files are resampled to, in Hz.
    segment_seconds : float, default=0.32
        Length of the random training crops (32 raw frames at 16 kHz), the name
        every embedder gives its training crop; clips shorter than it are
        zero-padded at the end and the padding is masked out of the loss. Clips
        shorter than this are also padded (at the end) for embedding. The
        defaults (this crop, ``encoder_width``, ``c_dim``, ``lr``) are sized so
        that a CPU run trains usefully; the paper's 1.28 s crops, width 512,
        ``c_dim=512`` and ``lr=2e-4`` are for a GPU and a lot of data. Log-mel
        needs a longer crop: at least 0.4 s (5 patches of 80 ms) for the default
        ``n_predict=4``; the default crop warns there
        (:class:`~skaudio.exceptions.DegenerateTrainingWarning`).
    input_representation : {"waveform", "logmel"}, default="waveform"
    n_mels : int, default=64
        Frequency bands (mel or log-frequency, ``frequency_scale``), for log-mel input.
    encoder : str, default="cpc"
        ``"cpc"`` is :class:`skaudio.encoders.CPCWaveformEncoder` or
        :class:`skaudio.encoders.CPCLogMelEncoder`; other registered encoders of the
        representation also work, but their frames share input with their
        neighbours, which makes predicting the near future easier than it should be.
    encoder_width : int, default=128
        Filters of each strided convolution of the raw-audio CPC encoder (the paper's
        512, for a GPU; the default trains many times faster on a CPU). Not used by
        log-mel encoders.
    encoder_norm : {"batch", "channel"}, default="batch"
        Normalisation after each strided convolution of the raw-audio CPC encoder
        (``norm`` of :class:`skaudio.encoders.CPCWaveformEncoder`): ``"batch"`` is
        batch norm, whose statistics mix the clips of the batch, which are also the
        negatives; ``"channel"`` is :class:`skaudio.encoders.ChannelNorm`, each
        frame normalised over its own channels (CPC_audio's, Riviere et al. 2020),
        so that a clip's frames do not depend on the rest of its batch. Other
        encoders take only ``"batch"`` (a ``ValueError`` otherwise).
    z_dim : int, default=256
        Size of the encoder outputs ``z_t``.
    c_dim : int, default=256
        Size of the context ``c_t`` (the paper's 512, for a GPU).
    context : {"gru", "transformer"}, default="gru"
    transformer_layers : int, default=2
    transformer_heads : int, default=4
        ``c_dim`` must be a multiple of it.
    dropout : float, default=0.1
        Dropout of the transformer.
    n_predict : int or None, default=None
        Future steps predicted; ``None`` is 12 for raw audio and 4 for log-mel. A
        training crop must give at least ``n_predict + 1`` frames (a
        ``ValueError`` otherwise); training clips too short for that warn with
        :class:`~skaudio.exceptions.DegenerateTrainingWarning`.
    negatives : {"batch", "batch+time", "clip", "group"}, default="batch"
        ``"batch"``: the other clips of the batch at the same future step;
        ``"batch+time"``: also the other steps of every clip, the same one included;
        ``"clip"``: only the other steps (past and future) of the same clip's crop,
        as CPC_audio's "same sequence" sampling: what tells clips apart (speaker,
        channel, recording) cannot pick the positive, which matters when speakers
        are held out at test time; a batch of one clip still has negatives;
        ``"group"``: every other step of the clips of the same group in the batch,
        the clip's own included, as CPC_audio's "same speaker" sampling: what tells
        groups apart cannot pick the positive. It needs ``groups`` in :meth:`fit`,
        and batches are then drawn by :class:`skaudio.data.GroupSampler`
        (``clips_per_group``).
    n_negatives : int or None, default=None
        ``None`` uses every candidate of the pool; an integer samples that many per
        prediction.
    clips_per_group : int, default=4
        With ``negatives="group"``, the clips of one group put together in a batch
        (about ``batch_size / clips_per_group`` groups per batch): each prediction
        then has the frames of up to that many crops as negatives. Not used by the
        other pools.
    step_weights : {"uniform", "linear"}, default="uniform"
        ``"linear"`` weighs step ``k`` by ``n_predict - k + 1``.
    pooling : {"mean", "last", "mean+max"}, default="mean"
        How ``transform`` pools the sequence over time.
    features : {"context", "encoder"}, default="context"
        Pool (and return from :meth:`transform_frames`) ``c_t`` or ``z_t``.
    window_seconds : float, default="deprecated"
        The former name of ``segment_seconds``, used (with a ``FutureWarning``) when
        set; setting both is a ``ValueError``.

        .. deprecated:: 0.2
           ``window_seconds`` was renamed ``segment_seconds`` in 0.2 and will be
           removed in 0.4.
    {shared_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
        ``net_.module_`` is a :class:`skaudio.models.CPCModel`.
    history_ : skorch.History
        Per epoch: ``train_loss``, ``train_pretext_acc`` (mean over steps) and
        ``train_step<k>_acc`` for every step.
    device_ : str
    precision_ : str
        Precision pretraining ran in: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    segment_length_ : int
        Training crop length in samples.
    n_predict_ : int
        Number of predicted steps used.

    References
    ----------
    A. van den Oord, Y. Li, O. Vinyals. "Representation learning with contrastive
    predictive coding." arXiv:1807.03748, 2018.

    Examples
    --------
    >>> from skaudio import CPCEmbedder
    >>> from skaudio.datasets import make_tones
    >>> X, y = make_tones(n_clips=16, sample_rate=8000, random_state=0)
    >>> cpc = CPCEmbedder(sample_rate=8000, segment_seconds=0.32, z_dim=16, c_dim=16,
    ...                   n_predict=3, batch_size=8, max_epochs=1, random_state=0).fit(X)
    >>> cpc.transform(X[:2]).shape
    (2, 16)
    >>> frames, times = cpc.transform_frames(X[:1])
    >>> frames[0].shape[1], round(float(times[0][1] - times[0][0]), 6)  # 160 samples at 8 kHz
    (16, 0.02)
    """

    #: ``clips_per_group`` changes what is learnt only with ``negatives="group"``, whose
    #: checkpoints record it (:meth:`_checkpoint_manifest`): the checkpoints of the
    #: other pools, written before it existed, still resume
    _RUN_ONLY_PARAMS = BaseSequenceEmbedder._RUN_ONLY_PARAMS | {"clips_per_group"}

    #: ``encoder_norm`` is recorded only when it is not batch norm, the encoder before it
    _UNRECORDED_DEFAULTS = {**BaseSequenceEmbedder._UNRECORDED_DEFAULTS, "encoder_norm": "batch"}

    _parameter_notes = {
        "batch_size": ("Here clips (one training crop each)."),
        "lr": ("The CPC paper's ``2e-4`` goes with its 1.28 s crops and width 512 (GPU)."),
        "random_state": ("Its own draws: the sampled negatives."),
    }

    _parameter_constraints: dict = {
        **BaseSequenceEmbedder._parameter_constraints,
        "encoder": [StrOptions({name for names in ENCODERS.values() for name in names})],
        "segment_seconds": [Interval(Real, 0, None, closed="neither")],
        "input_representation": [StrOptions({"waveform", "logmel"})],
        "encoder_width": [Interval(Integral, 1, None, closed="left")],
        "encoder_norm": [StrOptions({"batch", "channel"})],
        "z_dim": [Interval(Integral, 1, None, closed="left")],
        "c_dim": [Interval(Integral, 1, None, closed="left")],
        "context": [StrOptions({"gru", "transformer"})],
        "transformer_layers": [Interval(Integral, 1, None, closed="left")],
        "transformer_heads": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "n_predict": [Interval(Integral, 1, None, closed="left"), None],
        "negatives": [StrOptions({"batch", "batch+time", "clip", "group"})],
        "n_negatives": [Interval(Integral, 1, None, closed="left"), None],
        "clips_per_group": [Interval(Integral, 1, None, closed="left")],
        "step_weights": [StrOptions({"uniform", "linear"})],
        "pooling": [StrOptions({"mean", "last", "mean+max"})],
        "features": [StrOptions({"context", "encoder"})],
        "window_seconds": [Interval(Real, 0, None, closed="neither"), StrOptions({"deprecated"})],
    }

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
        input_representation: str = "waveform",
        n_mels: int = 64,
        encoder: str = "cpc",
        encoder_width: int = 128,
        encoder_norm: str = "batch",
        z_dim: int = 256,
        c_dim: int = 256,
        context: str = "gru",
        transformer_layers: int = 2,
        transformer_heads: int = 4,
        dropout: float = 0.1,
        n_predict: int | None = None,
        negatives: str = "batch",
        n_negatives: int | None = None,
        clips_per_group: int = 4,
        step_weights: str = "uniform",
        pooling: str = "mean",
        features: str = "context",
        window_seconds: float | str = "deprecated",
        frequency_scale: str = "mel",
        batch_size: int = 64,
        max_epochs: int = 100,
        lr: float = 1e-3,
        lr_schedule: str = "constant",
        warmup_epochs: float = 0.0,
        weight_decay: float = 0.0,
        device: str = "auto",
        precision: str = "auto",
        compile: bool = False,
        deterministic: bool = False,
        num_workers: int = 0,
        checkpoint_dir=None,
        warm_start: bool = False,
        distributed: bool = False,
        random_state=None,
        verbose: int = 0,
    ) -> None:
        self.sample_rate = sample_rate
        self.segment_seconds = segment_seconds
        self.input_representation = input_representation
        self.n_mels = n_mels
        self.frequency_scale = frequency_scale
        self.encoder = encoder
        self.encoder_width = encoder_width
        self.encoder_norm = encoder_norm
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.context = context
        self.transformer_layers = transformer_layers
        self.transformer_heads = transformer_heads
        self.dropout = dropout
        self.n_predict = n_predict
        self.negatives = negatives
        self.n_negatives = n_negatives
        self.clips_per_group = clips_per_group
        self.step_weights = step_weights
        self.pooling = pooling
        self.features = features
        self.window_seconds = window_seconds
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.weight_decay = weight_decay
        self.device = device
        self.precision = precision
        self.compile = compile
        self.deterministic = deterministic
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.warm_start = warm_start
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose

    def __setstate__(self, state: dict) -> None:
        """Read a pickle of any release: before 0.2 the crop was ``window_seconds``;
        before ``encoder_norm`` the raw-audio encoder used batch norm."""
        if "segment_seconds" not in state and "window_seconds" in state:
            state = {**state, "segment_seconds": state["window_seconds"]}
            state["window_seconds"] = "deprecated"
        if "encoder_norm" not in state:
            state = {**state, "encoder_norm": "batch"}
        super().__setstate__(state)

    @property
    def _crop_parameter(self) -> str:
        """The name of the parameter that sets the crop: the one the user set."""
        return "segment_seconds" if self.window_seconds == "deprecated" else "window_seconds"

    @property
    def _segment_seconds(self) -> float:
        return getattr(self, self._crop_parameter)

    @property
    def _segment_length(self) -> int:
        return max(1, round(self._segment_seconds * self.sample_rate))

    def _validate_params(self) -> None:
        """scikit-learn's validation, ``encoder_norm``, the deprecated ``window_seconds``."""
        super()._validate_params()
        if self.encoder_norm != "batch" and not self._raw_cpc_encoder:
            raise ValueError(
                f"encoder_norm={self.encoder_norm!r} needs the raw-audio CPC encoder "
                f"(encoder='cpc', input_representation='waveform'), not encoder="
                f"{self.encoder!r} with input_representation={self.input_representation!r}; "
                "use encoder_norm='batch'"
            )
        if self.window_seconds == "deprecated":
            return
        if self.segment_seconds != DEFAULT_SEGMENT_SECONDS:
            raise ValueError(
                f"both segment_seconds={self.segment_seconds} and window_seconds="
                f"{self.window_seconds} are set: window_seconds is the former name of "
                "segment_seconds; set segment_seconds only"
            )
        warnings.warn(
            "window_seconds was renamed segment_seconds in 0.2 and will be removed in 0.4: "
            f"use segment_seconds={self.window_seconds}",
            FutureWarning,
            stacklevel=3,
        )

    def _checkpoint_manifest(self, stage, clips, digests=None, *, epochs=None) -> dict:
        """The shared manifest, the crop recorded under its key before 0.2.

        Checkpoints name the crop ``window_seconds`` (its value, whichever parameter
        set it), so that those written before the rename still resume. With
        ``negatives="group"`` they also record ``clips_per_group`` and a fingerprint
        of the groups: other groups are other training data. ``encoder_norm`` is
        recorded only when it is not ``"batch"`` (``_UNRECORDED_DEFAULTS``), so that
        checkpoints written before it existed (batch norm) still resume.
        """
        manifest = super()._checkpoint_manifest(stage, clips, digests, epochs=epochs)
        del manifest["segment_seconds"]
        manifest["window_seconds"] = repr(self._segment_seconds)
        if self.negatives == "group":  # the groups shape the batches, as the clips do
            codes = self.__dict__.get("_fit_group_codes")
            manifest["clips_per_group"] = repr(self.clips_per_group)
            manifest["groups"] = None if codes is None else _fingerprint(codes)
        return manifest

    # -- groups ----------------------------------------------------------------------
    def fit(self, X, y=None, *, groups=None):
        """Pretrain the embedder on unlabelled audio.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
            Audio at ``sample_rate`` (see :func:`skaudio.io.check_audio`).
        y : None
            Ignored (present for pipeline compatibility).
        groups : array-like of shape (n_clips,) or None, default=None
            Group label of each clip (speaker, recording, instrument), needed by
            ``negatives="group"``, which draws each prediction's negatives from the
            clips of its group. In a :class:`~sklearn.pipeline.Pipeline`:
            ``pipe.fit(X, y, cpcembedder__groups=groups)``, or, with metadata
            routing, ``set_fit_request(groups=True)``. Its length is checked with
            every ``negatives``; the other pools do not use it (as a scikit-learn
            splitter that takes no groups ignores them), so one search can compare
            pools with the same fit arguments.

        Returns
        -------
        self : object
            The fitted embedder.

        Raises
        ------
        ValueError
            If ``negatives="group"`` and ``groups`` is None, or ``groups`` is not one
            label per clip.
        KeyboardInterrupt
            If training is interrupted (Ctrl-C): the estimator is left as it was
            before the call (unfitted after a first fit), never half-trained; with
            ``checkpoint_dir``, fitting again resumes from the last complete epoch.
        """
        with self._fit_groups_of(groups):
            return super().fit(X, y)

    def partial_fit(self, X, y=None, *, groups=None):
        """Pretrain one more epoch, on ``X`` (the first call also builds the model).

        Continues the same network and optimiser state; the first call is ``fit``
        with one epoch. An interrupted call (``KeyboardInterrupt``) leaves the
        estimator as it was.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths
            Audio at ``sample_rate``.
        y : None
            Ignored.
        groups : array-like of shape (n_clips,) or None, default=None
            Group label of each clip of ``X``, as in :meth:`fit`.

        Returns
        -------
        self : object
        """
        with self._fit_groups_of(groups):
            return super().partial_fit(X, y)

    @contextmanager
    def _fit_groups_of(self, groups):
        """Make ``groups`` the training call's (read by ``_check_targets``), for its duration."""
        self._fit_groups = groups
        try:
            yield
        finally:
            self.__dict__.pop("_fit_groups", None)
            self.__dict__.pop("_fit_group_codes", None)

    def _check_targets(self, y, n_clips: int, *, continuing: bool = False):
        """``y`` is ignored; the call's ``groups`` are checked and encoded here, before training."""
        targets = super()._check_targets(y, n_clips, continuing=continuing)
        self._fit_group_codes = self._check_groups(self.__dict__.get("_fit_groups"), n_clips)
        return targets

    def _check_groups(self, groups, n_clips: int) -> np.ndarray | None:
        """Integer codes (0 .. n_groups - 1) of ``groups`` with ``negatives="group"``, else None."""
        if groups is None:
            if self.negatives == "group":
                raise ValueError(
                    "negatives='group' draws each prediction's negatives from the clips of "
                    "its group, but fit got no groups: pass one group label per clip "
                    "(speaker, recording), fit(X, groups=groups); in a Pipeline, "
                    "fit(X, y, cpcembedder__groups=groups)"
                )
            return None
        groups = np.asarray(groups)
        if groups.ndim != 1:
            raise ValueError(
                f"groups must hold one label per clip (a 1-D array), got shape {groups.shape}"
            )
        if len(groups) != n_clips:
            raise ValueError(
                f"groups has {len(groups)} labels but X has {n_clips} clips: pass one group "
                "label per clip of X"
            )
        if self.negatives != "group":
            return None
        if self.distributed:
            raise ValueError(
                "negatives='group' does not train with distributed=True: its batches are "
                "drawn in each process from that process's data stream; use "
                "distributed=False, or negatives='clip'"
            )
        try:
            codes = np.unique(groups, return_inverse=True)[1]
        except TypeError as error:
            raise TypeError(
                f"groups must be labels of one sortable kind (ints or strings): {error}"
            ) from error
        return codes.reshape(-1).astype(np.int64)

    def _resolved_n_predict(self) -> int:
        if self.n_predict is None:
            return DEFAULT_N_PREDICT[self.input_representation]
        return self.n_predict

    @property
    def _negatives_from_other_clips(self) -> bool:
        return self.negatives == "batch"

    def _check_pretraining(self, clips) -> None:
        """Refuse a crop too short for ``n_predict`` steps, warn about clips too short.

        The crop's frame count comes from the encoder itself (built on the side,
        without touching the random state, and run on one crop of zeros).
        """
        n_predict = self._resolved_n_predict()
        with torch.random.fork_rng(devices=[]):
            model = EmbeddingModel(self._build_frontend(), self._build_cpc_encoder()).eval()
        model.max_frame_hop_seconds = None  # CPC predicts the encoder's own frames
        with torch.no_grad():
            n_frames = model.embed_frames(torch.zeros(1, self._segment_length)).shape[1]
        hop, rate = model.frame_hop, self.sample_rate
        name = self._crop_parameter
        needed = f"{name} >= {(n_predict + 1) * hop / rate:.4g} at {rate} Hz"
        if n_frames < n_predict + 1:
            raise ValueError(
                f"{name}={self._segment_seconds} gives {n_frames} frame(s) of {hop} "
                f"samples; n_predict={n_predict} needs at least {n_predict + 1} (the "
                f"furthest step predicts {n_predict} frames ahead): use {needed}, or a "
                "smaller n_predict"
            )
        one_clip_batch = len(clips) % self.batch_size == 1 or min(len(clips), self.batch_size) < 2
        if self.negatives == "batch" and self.n_negatives is not None and one_clip_batch:
            raise ValueError(
                f"n_negatives={self.n_negatives} with negatives='batch' samples negatives "
                f"from the other clips of a batch, but {len(clips)} clip(s) in batches of "
                f"batch_size={self.batch_size} leave a batch of a single clip; change "
                "batch_size, use negatives='batch+time' or 'clip', or n_negatives=None"
            )
        super()._check_pretraining(clips)
        longest = int(min(clips.lengths.max(), self._segment_length))
        n_audio = -(-longest // hop)  # frames that hold audio in the longest clip's crop
        if n_audio < n_predict + 1:
            learnt = "nothing" if n_audio < 2 else f"only steps 1 to {n_audio - 1}"
            if longest == self._segment_length:  # the crop is too short, not the clips
                # (log-mel at the default crop: its 5th patch holds only the edge frame)
                message = (
                    f"the training crop, {name}={self._segment_seconds}, holds {longest} "
                    f"samples, audio for {n_audio} frame(s) of {hop} samples: CPC learns "
                    f"{learnt} of the n_predict={n_predict} steps; use {needed}, or a "
                    "smaller n_predict"
                )
            else:
                message = (
                    f"the longest training clip has {longest} sample(s), {n_audio} frame(s) "
                    f"of {hop} samples: CPC learns {learnt} of the n_predict={n_predict} "
                    f"steps (the rest of the crop is padding); use clips of at least "
                    f"{(n_predict + 1) * hop} samples"
                )
            warnings.warn(message, DegenerateTrainingWarning, stacklevel=5)

    @property
    def _raw_cpc_encoder(self) -> bool:
        """Whether the encoder is :class:`CPCWaveformEncoder` (the only one with a ``norm``)."""
        return self.input_representation == "waveform" and self.encoder == "cpc"

    def _build_cpc_encoder(self):
        if self._raw_cpc_encoder:
            return CPCWaveformEncoder(
                embedding_dim=2 * self.z_dim, hidden=self.encoder_width, norm=self.encoder_norm
            )
        return make_encoder(
            self.encoder,
            n_mels=self.n_mels,
            embedding_dim=2 * self.z_dim,
            input_representation=self.input_representation,
        )

    def _build_model(self) -> CPCModel:
        self.n_predict_ = self._resolved_n_predict()
        encoder = self._build_cpc_encoder()
        context = make_context_network(
            self.context,
            encoder.frame_dim,
            self.c_dim,
            self.transformer_layers,
            self.transformer_heads,
            self.dropout,
        )
        return CPCModel(self._build_frontend(), encoder, context, self.c_dim, self.n_predict_)

    def _build_criterion(self) -> CPCCriterion:
        return CPCCriterion(
            self._resolved_n_predict(),
            self.negatives,
            self.n_negatives,
            self.step_weights,
            # from the fit's torch stream (skaudio._random), the same in every process
            seed=self._randomness.shared_seed(),
        )

    def _training_dataset(self, clips, targets, rng: np.random.Generator) -> SegmentDataset:
        groups = self.__dict__.get("_fit_group_codes") if self.negatives == "group" else None
        return SegmentDataset(clips, self._segment_length, rng, groups=groups)

    def _loader_settings(self, dataset) -> dict:
        """``negatives="group"``: batches of :class:`~skaudio.data.GroupSampler`.

        Its orders are draws of the run's data stream (``_randomness.data``, the
        generator of the crops, saved in checkpoints). Continued training with
        another pool puts the shuffled loader back.
        """
        if self.negatives == "group":
            sampler = GroupSampler(
                dataset.groups, self.batch_size, self.clips_per_group, self._randomness.data
            )
            return {"iterator_train__sampler": sampler, "iterator_train__shuffle": False}
        net = self.__dict__.get("net_")
        if net is not None and getattr(net, "iterator_train__sampler", None) is not None:
            return {"iterator_train__sampler": None, "iterator_train__shuffle": True}
        return {}

    def _frame_sequence(self, model: CPCModel, waveforms: torch.Tensor) -> torch.Tensor:
        return model.embed_frames(waveforms, features=self.features)

    def _pool_frames(self, frames: np.ndarray) -> np.ndarray:
        if self.pooling == "last":
            return frames[-1]
        if self.pooling == "mean+max":
            return np.concatenate([frames.mean(axis=0), frames.max(axis=0)])
        return frames.mean(axis=0)

    @property
    def _n_features_out(self) -> int:
        size = self.c_dim if self.features == "context" else self.z_dim
        return 2 * size if self.pooling == "mean+max" else size
