"""CPCEmbedder: contrastive predictive coding on raw audio or log-mel spectrograms."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..encoders import CPCWaveformEncoder, make_encoder
from ..exceptions import DegenerateTrainingWarning
from ..losses import CPCCriterion
from ..models import CPCModel
from ..models._base import EmbeddingModel
from ..models.cpc import make_context_network
from ..training import WindowDataset
from ._base import BaseAudioEmbedder

__all__ = ["CPCEmbedder"]

#: default number of predicted steps: 12 frames of 10 ms (raw), 4 patches of 80 ms (log-mel)
DEFAULT_N_PREDICT = {"waveform": 12, "logmel": 4}


class CPCEmbedder(BaseAudioEmbedder):
    """Self-supervised audio embeddings by contrastive predictive coding (van den Oord, 2018).

    An encoder turns a training window into a sequence ``z_t`` (raw audio: strided 1-D
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
    window_seconds : float, default=1.28
        Length of the random training crops (128 raw frames at 16 kHz); clips
        shorter than it are zero-padded at the end and the padding is masked out of
        the loss. Clips shorter than this are also padded (at the end) for embedding.
    input_representation : {"waveform", "logmel"}, default="waveform"
    n_mels : int, default=64
        Mel bands, for log-mel input.
    encoder : str, default="cpc"
        ``"cpc"`` is :class:`skaudio.encoders.CPCWaveformEncoder` or
        :class:`skaudio.encoders.CPCLogMelEncoder`; other registered encoders of the
        representation also work, but their frames share input with their
        neighbours, which makes predicting the near future easier than it should be.
    encoder_width : int, default=512
        Filters of each strided convolution of the raw-audio CPC encoder (the paper's
        512; smaller widths train many times faster on a CPU). Not used by log-mel
        encoders.
    z_dim : int, default=256
        Size of the encoder outputs ``z_t``.
    c_dim : int, default=512
        Size of the context ``c_t``.
    context : {"gru", "transformer"}, default="gru"
    transformer_layers : int, default=2
    transformer_heads : int, default=4
        ``c_dim`` must be a multiple of it.
    dropout : float, default=0.1
        Dropout of the transformer.
    n_predict : int or None, default=None
        Future steps predicted; ``None`` is 12 for raw audio and 4 for log-mel. A
        training window must give at least ``n_predict + 1`` frames (a
        ``ValueError`` otherwise); training clips too short for that warn with
        :class:`~skaudio.exceptions.DegenerateTrainingWarning`.
    negatives : {"batch", "batch+time", "clip"}, default="batch"
        ``"batch"``: the other clips of the batch at the same future step;
        ``"batch+time"``: also the other steps of every clip, the same one included;
        ``"clip"``: only the other steps (past and future) of the same clip's window,
        as CPC_audio's "same sequence" sampling: what tells clips apart (speaker,
        channel, recording) cannot pick the positive, which matters when speakers
        are held out at test time; a batch of one clip still has negatives.
    n_negatives : int or None, default=None
        ``None`` uses every candidate of the pool; an integer samples that many per
        prediction.
    step_weights : {"uniform", "linear"}, default="uniform"
        ``"linear"`` weighs step ``k`` by ``n_predict - k + 1``.
    pooling : {"mean", "last", "mean+max"}, default="mean"
        How ``transform`` pools the sequence over time.
    features : {"context", "encoder"}, default="context"
        Pool (and return from :meth:`transform_frames`) ``c_t`` or ``z_t``.
    batch_size : int, default=64
    max_epochs : int, default=100
        ``0`` keeps the randomly initialised networks: the baseline to beat.
    lr : float, default=2e-4
        AdamW learning rate (the CPC paper's 2e-4).
    lr_schedule : {"constant", "cosine"}, default="constant"
        Learning rate of each optimiser step (one per batch) after the warmup:
        ``"constant"`` keeps ``lr``; ``"cosine"`` decays it from ``lr`` along a half
        cosine over the steps of ``max_epochs``, to 0 one step after the last (see
        :class:`skaudio.training.LearningRateSchedule`). Continued training
        (:meth:`partial_fit`, ``warm_start``) restarts the schedule over the epochs of
        that call at ``lr``, without a new warmup (a warm restart, as in SGDR: the
        weights and the optimiser's moment estimates are trained already); no step
        trains at 0. With ``"cosine"``, a checkpoint resumes only under the same
        ``max_epochs``. ``history_`` records the rate of every batch and epoch as
        ``lr``.
    warmup_epochs : float, default=0.0
        Epochs over which the rate rises linearly, step by step, from ``lr / W`` to
        ``lr`` at the start of pretraining (``W`` steps: ``warmup_epochs`` times the
        batches per epoch, rounded up; the global batches, as many in every process
        of distributed training), before either schedule; 0 for none. A fit shorter
        than its warmup ends below ``lr``.
    weight_decay : float, default=0.0
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
    precision : {"auto", "fp32", "bf16", "fp16"}, default="auto"
        Arithmetic of pretraining's forward pass. ``"bf16"`` and ``"fp16"`` run the
        encoder and heads under ``torch.autocast`` (matmuls and convolutions in half
        precision); the weights, the optimiser, the log-mel frontend, the
        similarities and the losses stay float32. ``"fp16"`` adds loss scaling
        (:class:`skaudio.training.GradScaling`, saved in checkpoints). ``"auto"`` is
        ``"bf16"`` on a CUDA GPU with native bf16 (Ampere and later) and ``"fp32"``
        elsewhere, CPU included (CPU results are unchanged). bf16 is the CUDA default
        because it has float32's exponent range: nothing overflows and no loss
        scaling is needed, tensor cores run it at several times the float32 rate, and
        its 8-bit mantissa is kept away from the parts that need precision. On CUDA,
        ``fit`` also turns on TF32 matmuls and convolutions and cuDNN autotuning (set
        back afterwards) and uses the fused AdamW. :meth:`transform` always embeds in
        float32. Run-only: a checkpoint resumes under another precision; continued
        training (:meth:`partial_fit`, ``warm_start``) keeps the first fit's
        ``precision_``. On the CPU training is deterministic in every precision; on
        CUDA, only with ``deterministic=True``.
    compile : bool, default=False
        Compile the encoder with ``torch.compile`` for pretraining and embedding, in
        place (``nn.Module.compile`` on the encoder's submodules): state-dict keys,
        checkpoints and pickles are unchanged; an unpickled embedder compiles again
        on first use (set ``compile=False`` to embed where no C++ compiler is
        installed). The first batches are slow while it compiles, and a batch of a
        new shape (the last, smaller one) compiles again; later batches run fused
        kernels, worth it on a GPU for long runs. Compiled kernels may round
        differently: embeddings agree with ``compile=False`` to float32 tolerance,
        not bit for bit. Run-only.
    deterministic : bool, default=False
        Pretrain with torch's deterministic algorithms
        (``torch.use_deterministic_algorithms(True)``, cuDNN autotuning off and,
        unless the environment sets it, ``CUBLAS_WORKSPACE_CONFIG=:4096:8``), all
        restored after the call: on CUDA, fits with the same int ``random_state``
        on the same GPU, torch and CUDA versions then repeat, at some cost in speed;
        an operation that has no deterministic CUDA implementation raises a
        ``RuntimeError`` that names it. The CPU needs none of it: results and resumed
        checkpoints repeat exactly either way, and it changes no result there.
        Run-only.
    num_workers : int, default=0
        Data-loader processes that read, resample and crop the audio while the model
        trains (and read files for :meth:`transform`); 0 reads in the main process.
        Files given as paths are always read on demand, never all at once.
    checkpoint_dir : str, path or None, default=None
        Folder where pretraining saves a checkpoint after every epoch (weights,
        optimiser, history, random states). Fitting again with the same folder, the
        same parameters and the same data resumes from the last complete epoch, e.g.
        after the process was killed, and ends at ``max_epochs`` in all, exactly as
        an uninterrupted run; a corrupt checkpoint or one from another configuration
        raises a ``ValueError``.
    warm_start : bool, default=False
        When True and already fitted, :meth:`fit` continues pretraining the same
        network for ``max_epochs`` more epochs on the new data instead of starting
        over (:meth:`partial_fit` continues by one epoch).
    distributed : bool, default=False
        Pretrain as one process of a multi-process run (PyTorch DDP through
        accelerate; start the script with ``accelerate launch`` or ``torchrun``):
        ``batch_size`` is the global batch, split between the processes; contrastive
        negatives and batch-norm statistics come from the global batch. Needs the
        ``distributed`` extra; a lone process trains as usual.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, crops, batch order and negative sampling.
    verbose : int, default=0

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
        Training window length in samples.
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
    >>> cpc = CPCEmbedder(sample_rate=8000, window_seconds=0.32, z_dim=16, c_dim=16,
    ...                   n_predict=3, batch_size=8, max_epochs=1, random_state=0).fit(X)
    >>> cpc.transform(X[:2]).shape
    (2, 16)
    >>> frames, times = cpc.transform_frames(X[:1])
    >>> frames[0].shape[1], round(float(times[0][1] - times[0][0]), 6)  # 160 samples at 8 kHz
    (16, 0.02)
    """

    _parameter_constraints: dict = {
        **{
            key: value
            for key, value in BaseAudioEmbedder._parameter_constraints.items()
            if key not in {"segment_seconds", "embedding_dim"}
        },
        "window_seconds": [Interval(Real, 0, None, closed="neither")],
        "input_representation": [StrOptions({"waveform", "logmel"})],
        "encoder_width": [Interval(Integral, 1, None, closed="left")],
        "z_dim": [Interval(Integral, 1, None, closed="left")],
        "c_dim": [Interval(Integral, 1, None, closed="left")],
        "context": [StrOptions({"gru", "transformer"})],
        "transformer_layers": [Interval(Integral, 1, None, closed="left")],
        "transformer_heads": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "n_predict": [Interval(Integral, 1, None, closed="left"), None],
        "negatives": [StrOptions({"batch", "batch+time", "clip"})],
        "n_negatives": [Interval(Integral, 1, None, closed="left"), None],
        "step_weights": [StrOptions({"uniform", "linear"})],
        "pooling": [StrOptions({"mean", "last", "mean+max"})],
        "features": [StrOptions({"context", "encoder"})],
    }

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        window_seconds: float = 1.28,
        input_representation: str = "waveform",
        n_mels: int = 64,
        encoder: str = "cpc",
        encoder_width: int = 512,
        z_dim: int = 256,
        c_dim: int = 512,
        context: str = "gru",
        transformer_layers: int = 2,
        transformer_heads: int = 4,
        dropout: float = 0.1,
        n_predict: int | None = None,
        negatives: str = "batch",
        n_negatives: int | None = None,
        step_weights: str = "uniform",
        pooling: str = "mean",
        features: str = "context",
        batch_size: int = 64,
        max_epochs: int = 100,
        lr: float = 2e-4,
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
        self.window_seconds = window_seconds
        self.input_representation = input_representation
        self.n_mels = n_mels
        self.encoder = encoder
        self.encoder_width = encoder_width
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.context = context
        self.transformer_layers = transformer_layers
        self.transformer_heads = transformer_heads
        self.dropout = dropout
        self.n_predict = n_predict
        self.negatives = negatives
        self.n_negatives = n_negatives
        self.step_weights = step_weights
        self.pooling = pooling
        self.features = features
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

    @property
    def _segment_length(self) -> int:
        return max(1, round(self.window_seconds * self.sample_rate))

    def _resolved_n_predict(self) -> int:
        if self.n_predict is None:
            return DEFAULT_N_PREDICT[self.input_representation]
        return self.n_predict

    @property
    def _negatives_from_other_clips(self) -> bool:
        return self.negatives == "batch"

    def _check_pretraining(self, clips) -> None:
        """Refuse a window too short for ``n_predict`` steps, warn about clips too short.

        The window's frame count comes from the encoder itself (built on the side,
        without touching the random state, and run on one window of zeros).
        """
        n_predict = self._resolved_n_predict()
        with torch.random.fork_rng(devices=[]):
            model = EmbeddingModel(self._build_frontend(), self._build_cpc_encoder()).eval()
        model.max_frame_hop_seconds = None  # CPC predicts the encoder's own frames
        with torch.no_grad():
            n_frames = model.embed_frames(torch.zeros(1, self._segment_length)).shape[1]
        hop, rate = model.frame_hop, self.sample_rate
        needed = f"window_seconds >= {(n_predict + 1) * hop / rate:.4g} at {rate} Hz"
        if n_frames < n_predict + 1:
            raise ValueError(
                f"window_seconds={self.window_seconds} gives {n_frames} frame(s) of {hop} "
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
            warnings.warn(
                f"the longest training clip has {longest} sample(s), {n_audio} frame(s) of "
                f"{hop} samples: CPC learns {learnt} of the n_predict={n_predict} steps "
                f"(the rest of the window is padding); use clips of at least "
                f"{(n_predict + 1) * hop} samples",
                DegenerateTrainingWarning,
                stacklevel=4,
            )

    def _build_cpc_encoder(self):
        if self.input_representation == "waveform" and self.encoder == "cpc":
            return CPCWaveformEncoder(embedding_dim=2 * self.z_dim, hidden=self.encoder_width)
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
            # drawn from torch inside fit's seeded block: a function of random_state
            seed=int(torch.randint(2**31 - 1, (1,))),
        )

    def _training_dataset(self, clips, targets, rng: np.random.Generator) -> WindowDataset:
        return WindowDataset(clips, self._segment_length, rng)

    def _frame_sequence(self, model: CPCModel, waveforms: torch.Tensor) -> torch.Tensor:
        return model.embed_frames(waveforms, features=self.features)

    _embeds_whole_clips = True

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
