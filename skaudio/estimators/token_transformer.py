"""TokenTransformerEmbedder: k-means audio tokens and a transformer predicting the next one."""

from __future__ import annotations

import hashlib
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.cluster import MiniBatchKMeans
from sklearn.utils._param_validation import Interval

from ..clips import as_clips
from ..encoders import PatchAutoencoder
from ..exceptions import DegenerateTrainingWarning
from ..losses import NextTokenCriterion, ReconstructionCriterion
from ..models import TokenTransformerModel
from ..models.token_transformer import NextTokenTransformer, PatchReconstruction
from ..training import TokenWindowDataset
from ._base import BaseAudioEmbedder, _evaluation_mode

__all__ = ["TokenTransformerEmbedder", "codebook_statistics"]


def codebook_statistics(sequences: list[np.ndarray], n_tokens: int) -> tuple[float, float]:
    """Share of the codebook in use and perplexity of the token distribution.

    Parameters
    ----------
    sequences : list of integer ndarray
    n_tokens : int

    Returns
    -------
    usage : float
        Share of the ``n_tokens`` entries that occur at least once.
    perplexity : float
        ``exp`` of the entropy of the token frequencies (``n_tokens`` at most, when
        every token is equally frequent).
    """
    counts = np.bincount(np.concatenate(sequences), minlength=n_tokens)
    p = counts[counts > 0] / counts.sum()
    return float((counts > 0).mean()), float(np.exp(-(p * np.log(p)).sum()))


def _tokenizer_fingerprint(model: TokenTransformerModel) -> str:
    """Hex digest of what turns audio into tokens: the autoencoder's state and the codebook."""
    digest = hashlib.blake2b(digest_size=16)
    state = {f"encoder.{k}": v for k, v in model.encoder.state_dict().items()}
    state["codebook"] = model.codebook
    for name, tensor in sorted(state.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class TokenTransformerEmbedder(BaseAudioEmbedder):
    """Audio embeddings from a transformer trained to predict the next audio token
    (Verma & Smith, "A framework for contrastive and generative learning of audio
    representations", 2020).

    ``fit`` runs three stages on the training clips:

    1. log-mel patches of ``patch_frames`` frames, standardised, train a fully
       connected autoencoder (``autoencoder_layers`` layers of ``autoencoder_width``
       units, a ``bottleneck``-sized code) by reconstruction;
    2. ``MiniBatchKMeans`` with ``n_tokens`` clusters on the codes of all patches gives
       the codebook: every patch becomes the id of its nearest centroid;
    3. a causal transformer (``n_layers``, ``n_heads``, ``d_model``, ``feedforward``)
       learns to predict the next token from up to ``context_tokens`` tokens, by
       cross-entropy; in ``corrupt_probability`` of the batches a share
       ``corrupt_share`` of its input tokens is replaced by random tokens.

    The representation is a dense ``embedding_dim``-unit layer (tanh) read before the
    softmax; :meth:`transform` averages it over every token of a clip (read in
    consecutive windows of ``context_tokens``), :meth:`transform_frames` returns it per
    token, and :meth:`tokenize` returns the tokens themselves.

    Parameters
    ----------
    sample_rate : int, default=16000
    n_mels : int, default=64
    patch_frames : int, default=4
        Log-mel frames per patch (and per token): 40 ms with the 10 ms hop.
    autoencoder_width : int, default=1024
    autoencoder_layers : int, default=3
    bottleneck : int, default=16
    n_tokens : int, default=256
        Codebook size.
    context_tokens : int, default=25
        Longest context of the transformer; clips shorter than that many patches are
        padded for embedding.
    d_model : int, default=32
    n_heads : int, default=8
    n_layers : int, default=3
    feedforward : int, default=128
    embedding_dim : int, default=16
        Size of the representation (and of :meth:`transform`'s output).
    dropout : float, default=0.1
    corrupt_probability : float, default=0.2
    corrupt_share : float, default=0.2
    batch_size : int, default=256
        Patches per autoencoder batch and token windows per transformer batch.
    max_epochs : int, default=100
        Epochs of each neural stage (autoencoder, transformer). ``0`` leaves both
        untrained (the k-means codebook is still fitted, on the random codes): the
        baseline to beat.
    lr : float, default=1e-3
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
        ``lr``. Each neural stage (autoencoder, transformer) follows it over its own
        epochs and batches.
    warmup_epochs : float, default=0.0
        Epochs over which the rate rises linearly, step by step, from ``lr / W`` to
        ``lr`` at the start of pretraining (``W`` steps: ``warmup_epochs`` times the
        batches per epoch, rounded up; the global batches, as many in every process
        of distributed training), before either schedule; 0 for none. A fit shorter
        than its warmup ends below ``lr``.
    weight_decay : float, default=0.0
    device : str, default="auto"
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
        ``precision_``.
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
        or other data raises a ``ValueError``. Each neural stage has its own
        checkpoint (``autoencoder.pt``, ``transformer.pt``); the transformer's is
        resumed only with the autoencoder and codebook it was trained on, and trained
        over otherwise (e.g. after ``max_epochs`` was raised).
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
    verbose : int, default=0

    Attributes
    ----------
    autoencoder_ : skorch.NeuralNet
        The stage-1 net (``autoencoder_.history`` has its reconstruction loss).
    kmeans_ : sklearn.cluster.MiniBatchKMeans
        The stage-2 clustering.
    codebook_ : ndarray of shape (n_tokens, bottleneck)
        Its centroids.
    codebook_usage_ : float
        Share of the tokens used by the training clips.
    perplexity_ : float
        Perplexity of the training clips' token distribution.
    net_ : skorch.NeuralNet
        The stage-3 net; ``net_.module_`` is a :class:`skaudio.models.TokenTransformerModel`.
    history_ : skorch.History
        Per epoch of the transformer: ``train_loss`` and ``train_pretext_acc``
        (next-token accuracy).
    stage_seconds_ : dict
        Wall-clock seconds of each stage (``"autoencoder"``, ``"kmeans"``,
        ``"transformer"``).
    precision_ : str
        Precision pretraining ran in: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    Examples
    --------
    >>> from skaudio import TokenTransformerEmbedder
    >>> from skaudio.datasets import make_tones
    >>> X, y = make_tones(n_clips=24, sample_rate=8000, random_state=0)
    >>> est = TokenTransformerEmbedder(sample_rate=8000, n_mels=32, n_tokens=16,
    ...                                autoencoder_width=64, batch_size=64, max_epochs=1,
    ...                                random_state=0).fit(X)
    >>> est.transform(X[:2]).shape
    (2, 16)
    >>> tokens = est.tokenize(X[:1])[0]  # one id per 40 ms patch
    >>> bool(tokens.max() < 16)
    True
    """

    _parameter_constraints: dict = {
        **{
            key: value
            for key, value in BaseAudioEmbedder._parameter_constraints.items()
            if key not in {"segment_seconds", "encoder"}
        },
        "patch_frames": [Interval(Integral, 1, None, closed="left")],
        "autoencoder_width": [Interval(Integral, 1, None, closed="left")],
        "autoencoder_layers": [Interval(Integral, 1, None, closed="left")],
        "bottleneck": [Interval(Integral, 1, None, closed="left")],
        "n_tokens": [Interval(Integral, 2, None, closed="left")],
        "context_tokens": [Interval(Integral, 1, None, closed="left")],
        "d_model": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "feedforward": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "corrupt_probability": [Interval(Real, 0, 1, closed="both")],
        "corrupt_share": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_mels: int = 64,
        patch_frames: int = 4,
        autoencoder_width: int = 1024,
        autoencoder_layers: int = 3,
        bottleneck: int = 16,
        n_tokens: int = 256,
        context_tokens: int = 25,
        d_model: int = 32,
        n_heads: int = 8,
        n_layers: int = 3,
        feedforward: int = 128,
        embedding_dim: int = 16,
        dropout: float = 0.1,
        corrupt_probability: float = 0.2,
        corrupt_share: float = 0.2,
        batch_size: int = 256,
        max_epochs: int = 100,
        lr: float = 1e-3,
        lr_schedule: str = "constant",
        warmup_epochs: float = 0.0,
        weight_decay: float = 0.0,
        device: str = "auto",
        precision: str = "auto",
        num_workers: int = 0,
        checkpoint_dir=None,
        warm_start: bool = False,
        distributed: bool = False,
        random_state=None,
        verbose: int = 0,
    ) -> None:
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.patch_frames = patch_frames
        self.autoencoder_width = autoencoder_width
        self.autoencoder_layers = autoencoder_layers
        self.bottleneck = bottleneck
        self.n_tokens = n_tokens
        self.context_tokens = context_tokens
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.feedforward = feedforward
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.corrupt_probability = corrupt_probability
        self.corrupt_share = corrupt_share
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.weight_decay = weight_decay
        self.device = device
        self.precision = precision
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.warm_start = warm_start
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose

    _embeds_whole_clips = True

    def _check_pretraining(self, clips) -> None:
        """Warn when every clip is a single patch: there is no next token to predict."""
        hop = self._build_frontend().hop_length
        longest = int(clips.lengths.max())
        if -(-(1 + longest // hop) // self.patch_frames) < 2:  # patches of the longest clip
            needed = self.patch_frames * hop
            warnings.warn(
                f"every training clip gives a single patch of patch_frames={self.patch_frames} "
                f"log-mel frames (the longest has {longest} samples): the transformer has no "
                "next token to predict (its loss is NaN) and learns nothing; use clips of at "
                f"least {needed} samples ({needed / self.sample_rate:.3g} s) or a smaller "
                "patch_frames",
                DegenerateTrainingWarning,
                stacklevel=4,
            )

    @property
    def _segment_length(self) -> int:
        # one context of tokens, in samples; read after _pretrain from the fitted model,
        # so the hop is the frontend's own rather than a second copy of its arithmetic
        return self.context_tokens * self.net_.module_.frame_hop

    def _build_model(self) -> TokenTransformerModel:
        autoencoder = PatchAutoencoder(
            self.n_mels,
            embedding_dim=2 * self.bottleneck,
            patch_frames=self.patch_frames,
            hidden=self.autoencoder_width,
            n_layers=self.autoencoder_layers,
        )
        transformer = NextTokenTransformer(
            self.n_tokens,
            self.context_tokens,
            self.d_model,
            self.n_heads,
            self.n_layers,
            self.feedforward,
            self.embedding_dim,
            self.dropout,
        )
        return TokenTransformerModel(
            self._build_frontend(),
            autoencoder,
            transformer,
            self.corrupt_probability,
            self.corrupt_share,
            seed=int(torch.randint(2**31 - 1, (1,))),
        )

    def _raw_patches(self, model: TokenTransformerModel, clips) -> list[torch.Tensor]:
        """Unstandardised patches of each clip, (n_patches_i, patch_dim), on the CPU.

        Clips are read one at a time; the patches of the corpus are kept (the
        autoencoder and k-means stages need them all).
        """
        with torch.inference_mode():
            return [
                model.encoder.raw_patches(
                    model.spectrogram(torch.from_numpy(clips[i])[None].to(self.device_))
                )[0].cpu()
                for i in range(len(clips))
            ]

    def _pretrain(self, clips, targets, rng: np.random.Generator):
        model = self._build_model().to(self.device_)
        autoencoder = model.encoder
        self.stage_seconds_ = {}

        start = time.perf_counter()
        raw = self._raw_patches(model, clips)
        autoencoder.set_normalisation(torch.cat(raw))
        per_clip = [autoencoder.standardise(p) for p in raw]
        patches = torch.cat(per_clip)
        if len(patches) < self.n_tokens:
            raise ValueError(
                f"the training clips give {len(patches)} patches, fewer than "
                f"n_tokens={self.n_tokens}: use more or longer clips, or fewer tokens"
            )
        self.autoencoder_ = self._train(
            PatchReconstruction(autoencoder),
            ReconstructionCriterion(),
            patches.numpy(),
            rng,
            clips=clips,
            stage="autoencoder",
        )
        self.stage_seconds_["autoencoder"] = time.perf_counter() - start

        start = time.perf_counter()
        with _evaluation_mode(autoencoder), torch.inference_mode():
            codes = [autoencoder.encode(p.to(self.device_)).cpu().numpy() for p in per_clip]
        self.kmeans_ = MiniBatchKMeans(
            n_clusters=self.n_tokens,
            batch_size=max(1024, 4 * self.n_tokens),
            n_init=3,
            random_state=int(rng.integers(np.iinfo(np.int32).max)),
        ).fit(np.concatenate(codes))
        self.codebook_ = self.kmeans_.cluster_centers_.astype(np.float32)
        model.codebook.copy_(torch.from_numpy(self.codebook_))
        sequences = [self.kmeans_.predict(c) for c in codes]
        self.codebook_usage_, self.perplexity_ = codebook_statistics(sequences, self.n_tokens)
        self.stage_seconds_["kmeans"] = time.perf_counter() - start

        start = time.perf_counter()
        dataset = TokenWindowDataset(sequences, self.context_tokens + 1, self.n_tokens)
        # the transformer's checkpoint holds the whole model: it is resumed only over the
        # very autoencoder and codebook it was trained on (a resumed or extended first
        # stage gives others: then the transformer starts over, as an uninterrupted run)
        net = self._train(
            model,
            NextTokenCriterion(),
            dataset,
            rng,
            clips=clips,
            stage="transformer",
            trained_on={"tokenizer": _tokenizer_fingerprint(model)},
        )
        self.stage_seconds_["transformer"] = time.perf_counter() - start
        return net

    def tokenize(self, X) -> list[np.ndarray]:
        """Token ids of every clip, one per patch of ``patch_frames`` log-mel frames.

        Parameters
        ----------
        X : list of array-like, ndarray of shape (n_clips, n_samples), or list of paths

        Returns
        -------
        tokens : list of ndarray of shape (n_patches_i,), dtype int64
            Values in ``[0, n_tokens)``.
        """
        model = self._fitted_model()
        return self._tokens(model, as_clips(X, sample_rate=self.sample_rate))

    def _tokens(self, model: TokenTransformerModel, clips) -> list[np.ndarray]:
        tokens, _ = self._embed_frames(model, clips, sequence=model.tokenize)
        return tokens

    def _continue_dataset(self, clips, targets, rng: np.random.Generator) -> TokenWindowDataset:
        # the tokenizer (autoencoder and codebook) stays as learnt: continued training
        # teaches the transformer the token sequences of the new clips
        tokens = self._tokens(self.net_.module_, clips)
        return TokenWindowDataset(tokens, self.context_tokens + 1, self.n_tokens)

    def next_token_accuracy(self, X) -> float:
        """Accuracy of the transformer's next-token prediction on the clips of ``X``.

        Each clip's token sequence is read in consecutive windows of
        ``context_tokens + 1`` tokens (overlapping by one), as in training.

        Returns
        -------
        accuracy : float
        """
        model = self._fitted_model()
        length = self.context_tokens + 1
        windows = []
        for sequence in self.tokenize(X):
            for start in range(0, max(1, len(sequence) - 1), self.context_tokens):
                window = np.full(length, self.n_tokens, dtype=np.int64)
                piece = sequence[start : start + length]
                window[: len(piece)] = piece
                windows.append(window)
        correct = total = 0
        with _evaluation_mode(model), torch.inference_mode():
            for start in range(0, len(windows), self.batch_size):
                batch = np.stack(windows[start : start + self.batch_size])
                output = model(torch.from_numpy(batch).to(self.net_.device))
                real = output.targets >= 0
                correct += int(((output.logits.argmax(dim=-1) == output.targets) & real).sum())
                total += int(real.sum())
        return correct / total if total else float("nan")

    @property
    def _n_features_out(self) -> int:
        return self.embedding_dim
