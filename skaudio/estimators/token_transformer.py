"""TokenTransformerEmbedder: k-means audio tokens and a transformer predicting the next one."""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.cluster import MiniBatchKMeans
from skorch.callbacks import Callback, EarlyStopping
from torch.utils.data import Dataset

from .._compat import Interval
from .._inference import evaluation_mode, frames_kept, next_token_counts
from ..clips import as_clips
from ..data import TokenContextDataset
from ..encoders import PatchAutoencoder
from ..exceptions import DegenerateTrainingWarning
from ..losses import NextTokenCriterion, ReconstructionCriterion
from ..models import TokenTransformerModel
from ..models.token_transformer import NextTokenTransformer, PatchReconstruction
from ..training import StopTraining
from ._base import BaseSequenceEmbedder

__all__ = ["TokenTransformerEmbedder"]


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


def _consecutive_windows(sequences: list[np.ndarray], context: int, pad_id: int) -> np.ndarray:
    """Each sequence in consecutive windows of ``context + 1`` tokens, overlapping by one.

    Every transition of every sequence is the target of exactly one window step; the
    steps past a sequence's end are padding (``pad_id``).

    Returns
    -------
    windows : ndarray of shape (n_windows, context + 1), dtype int64
    """
    length = context + 1
    windows = []
    for sequence in sequences:
        for start in range(0, max(1, len(sequence) - 1), context):
            window = np.full(length, pad_id, dtype=np.int64)
            piece = sequence[start : start + length]
            window[: len(piece)] = piece
            windows.append(window)
    return np.stack(windows) if windows else np.empty((0, length), dtype=np.int64)


class _TokenWindows(Dataset):
    """Fixed token windows, items ``({"tokens": window}, -1)`` as in ``TokenContextDataset``."""

    def __init__(self, windows: np.ndarray) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int):
        return {"tokens": self.windows[index]}, -1


class _HeldOutTokens(Dataset):
    """The transformer's training windows, carrying the validation windows of other clips.

    It iterates as ``training``; the trainer validates on ``validation`` after every
    epoch (the net's ``train_split`` hands skorch the pair).
    """

    def __init__(self, training: Dataset, validation: Dataset) -> None:
        self.training = training
        self.validation = validation

    def __len__(self) -> int:
        return len(self.training)

    def __getitem__(self, index: int):
        return self.training[index]


class _HeldOutAccuracy(Callback):
    """Records ``valid_pretext_acc``: next-token accuracy over every real target of the
    validation batches of the epoch (NaN when they hold none).

    The counts stay on the device until the end of the epoch; in a multi-process run
    they are summed over the processes, so that every process sees the same score.
    """

    def on_epoch_begin(self, net, **kwargs) -> None:
        self.counts_ = None

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs) -> None:
        if training:
            return
        real = y_pred.targets >= 0
        hits = ((y_pred.logits.argmax(dim=-1) == y_pred.targets) & real).sum()
        counts = torch.stack([hits, real.sum()])
        self.counts_ = counts if self.counts_ is None else self.counts_ + counts

    def on_epoch_end(self, net, **kwargs) -> None:
        score = float("nan")
        if self.counts_ is not None:
            counts = self.counts_
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(counts)
            hits, total = counts.tolist()
            score = hits / total if total else score
        net.history.record("valid_pretext_acc", score)


class _HeldOutStopping(EarlyStopping):
    """skorch's ``EarlyStopping`` on ``valid_pretext_acc``, keeping the best epoch's weights.

    Training stops once the held-out next-token accuracy has not risen by more than
    ``threshold`` (absolute) over its best for ``patience`` epochs; the module's
    weights are then put back to the best epoch's (``load_best``), also when the run
    ends at ``max_epochs``. Its state (misses, best score, best epoch and weights) is
    saved in every checkpoint (it runs before the checkpoint callback, so the saved
    state is the epoch's), and a resumed run goes on from it.

    The stop is a :class:`skaudio.training.StopTraining`, which the net tells apart
    from a real interrupt (Ctrl-C): the fit ends normally.
    """

    def __init__(self, patience: int = 5, threshold: float = 0.0, sink=print) -> None:
        super().__init__(
            monitor="valid_pretext_acc",
            patience=patience,
            threshold=threshold,
            threshold_mode="abs",
            lower_is_better=False,
            sink=sink,
            load_best=True,
        )
        self.resumed_ = False

    def on_train_begin(self, net, **kwargs) -> None:
        if self.resumed_:  # the state of a checkpoint: go on from it
            self.resumed_ = False
            return
        super().on_train_begin(net, **kwargs)

    def on_epoch_end(self, net, **kwargs) -> None:
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            raise StopTraining from None

    def on_train_end(self, net, **kwargs) -> None:
        if getattr(net, "_interrupt", None) is not None:
            return  # interrupted: the net is left as the last checkpoint saved it
        self.restore_best(net)

    def restore_best(self, net) -> None:
        """Put the best epoch's weights back, unless the last epoch is the best."""
        best = getattr(self, "best_model_weights_", None)
        if best is not None and self.best_epoch_ != net.history[-1, "epoch"]:
            net.module_.load_state_dict(best)

    def state_dict(self) -> dict:
        return {
            "misses": int(self.misses_),
            "threshold": float(self.dynamic_threshold_),
            "best_epoch": int(self.best_epoch_),
            "best_weights": self.best_model_weights_,
        }

    def load_state_dict(self, state: dict) -> None:
        self.misses_ = state["misses"]
        self.dynamic_threshold_ = state["threshold"]
        self.best_epoch_ = state["best_epoch"]
        self.best_model_weights_ = state["best_weights"]
        self.resumed_ = True


class TokenTransformerEmbedder(BaseSequenceEmbedder):
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
        Frequency bands of the frontend (mel or log-frequency, ``frequency_scale``).
    patch_frames : int, default=4
        Log-mel frames per patch (and per token): 40 ms with the 10 ms hop.
    autoencoder_width : int, default=256
        Units of each hidden layer of the patch autoencoder (the paper's is 1024; see
        :ref:`guide-tokens`).
    autoencoder_layers : int, default=3
    bottleneck : int, default=16
    n_tokens : int, default=64
        Codebook size (see :ref:`tokens-measured` for the choice of 64).
    context_tokens : int, default=25
        Longest context of the transformer, in tokens: a size of the model (its
        positional embeddings) that also sets the training crop, this estimator's
        counterpart of the others' ``segment_seconds``: ``context_tokens *
        patch_frames`` log-mel frames of 10 ms, 1.0 s at the defaults. Clips shorter
        than that many patches are padded for embedding.
    d_model : int, default=32
    n_heads : int, default=8
    n_layers : int, default=3
    feedforward : int, default=128
    embedding_dim : int, default=16
        Size of the representation (and of :meth:`transform`'s output).
    dropout : float, default=0.1
    corrupt_probability : float, default=0.2
    corrupt_share : float, default=0.2
    validation_fraction : float, default=0.1
        Share of the clips held out from the transformer's training (drawn by
        ``random_state``; whole clips, so that no clip is on both sides) to score
        next-token accuracy after every epoch, ``valid_pretext_acc`` in
        ``history_``, and stop early (skorch's ``EarlyStopping``): training ends
        once that accuracy has not improved by more than ``tol`` for
        ``n_iter_no_change`` epochs, and the transformer keeps the weights of its
        best epoch (``best_epoch_``). ``0`` trains on every clip for ``max_epochs``
        without validation. The tokenizer (autoencoder and k-means) is fitted on
        every clip either way. Needs at least 2 clips. Continued training
        (:meth:`partial_fit`, ``warm_start``) trains on all its clips, without
        validation.
    n_iter_no_change : int, default=3
        Epochs without improvement of the held-out accuracy before training stops.
    tol : float, default=0.0
        Smallest rise of the held-out accuracy (absolute) that counts as an
        improvement.
    {shared_parameters}

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
        (next-token accuracy); with ``validation_fraction > 0`` also ``valid_loss`` and
        ``valid_pretext_acc``, on the held-out clips.
    stage_seconds_ : dict
        Wall-clock seconds of each stage (``"autoencoder"``, ``"kmeans"``,
        ``"transformer"``).
    precision_ : str
        Precision pretraining ran in: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    validation_clips_ : ndarray of int
        Indices of the clips held out from the transformer's training (empty with
        ``validation_fraction=0``).
    best_epoch_ : int or None
        With ``validation_fraction > 0``, the transformer epoch (from 1) whose
        weights were kept: the best on the held-out clips; ``None`` without
        validation (the last epoch's are kept).

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

    _parameter_notes = {
        "batch_size": (
            "Here patches per autoencoder batch and token windows per transformer batch."
        ),
        "max_epochs": (
            "Here the epochs of each neural stage (autoencoder, transformer; the "
            "transformer's may end earlier, see ``validation_fraction``). Each "
            "transformer epoch shows every transition at every position of the "
            "context. ``0`` leaves both untrained (the k-means codebook is still "
            "fitted, on the random codes)."
        ),
        "lr_schedule": (
            "Each neural stage (autoencoder, transformer) follows it over its own "
            "epochs and batches."
        ),
        "checkpoint_dir": (
            "Each neural stage has its own checkpoint (``autoencoder.pt``, "
            "``transformer.pt``); the transformer's is resumed only with the "
            "autoencoder and codebook it was trained on, and trained over otherwise "
            "(e.g. after ``max_epochs`` was raised)."
        ),
        "random_state": ("Its own draws: the held-out clips, k-means and the corrupted tokens."),
    }

    _parameter_constraints: dict = {
        **BaseSequenceEmbedder._parameter_constraints,
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
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
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_mels: int = 64,
        patch_frames: int = 4,
        autoencoder_width: int = 256,
        autoencoder_layers: int = 3,
        bottleneck: int = 16,
        n_tokens: int = 64,
        context_tokens: int = 25,
        d_model: int = 32,
        n_heads: int = 8,
        n_layers: int = 3,
        feedforward: int = 128,
        embedding_dim: int = 16,
        dropout: float = 0.1,
        corrupt_probability: float = 0.2,
        corrupt_share: float = 0.2,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 3,
        tol: float = 0.0,
        frequency_scale: str = "mel",
        batch_size: int = 256,
        max_epochs: int = 10,
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
        self.n_mels = n_mels
        self.frequency_scale = frequency_scale
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
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
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
                stacklevel=5,
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
            seed=self._randomness.module_seed(),  # the fit's torch stream (skaudio._random)
        )

    def _raw_patches(self, model: TokenTransformerModel, clips) -> list[torch.Tensor]:
        """Unstandardised patches of each clip, (n_patches_i, patch_dim), on the device.

        Clips are read one at a time; the patches of the corpus are kept (the
        autoencoder and k-means stages need them all), on the model's device, where
        they are standardised and encoded without a copy to the host per clip.
        """
        with torch.inference_mode():
            patches = [
                model.encoder.raw_patches(
                    model.spectrogram(torch.from_numpy(clips[i])[None].to(self.device_))
                )[0]
                for i in range(len(clips))
            ]
        # the patches that start inside the clip, as transform and tokenize keep them (a
        # last patch starting exactly at the clip's end holds only its padded end frame)
        return [
            p[: frames_kept(int(clips.lengths[i]), model, p.shape[0])]
            for i, p in enumerate(patches)
        ]

    def _check_validation(self, n_clips: int) -> None:
        """Refuse a ``validation_fraction`` that leaves no clip to train on, before training."""
        if self.validation_fraction and n_clips - math.ceil(self.validation_fraction * n_clips) < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} holds out every one of the "
                f"{n_clips} training clip(s) and leaves none to train the transformer on: "
                "fit on at least 2 clips, or pass validation_fraction=0 to train on all of "
                "them without early stopping"
            )

    def _token_dataset(self, sequences: list[np.ndarray], rng: np.random.Generator) -> Dataset:
        """The transformer's windows; with ``validation_fraction``, those of held-out clips too.

        The held-out clips are drawn from ``rng`` (nothing is drawn without them, so
        ``validation_fraction=0`` trains exactly as before it existed).
        """
        length = self.context_tokens + 1
        self.validation_clips_ = np.empty(0, dtype=np.intp)
        if not self.validation_fraction:
            return TokenContextDataset(sequences, length, self.n_tokens)
        n_held_out = math.ceil(self.validation_fraction * len(sequences))
        held_out = np.zeros(len(sequences), dtype=bool)
        held_out[rng.permutation(len(sequences))[:n_held_out]] = True
        self.validation_clips_ = np.flatnonzero(held_out)
        training = [s for s, out in zip(sequences, held_out, strict=True) if not out]
        validation = [sequences[i] for i in self.validation_clips_]
        return _HeldOutTokens(
            TokenContextDataset(training, length, self.n_tokens),
            _TokenWindows(_consecutive_windows(validation, self.context_tokens, self.n_tokens)),
        )

    def _fit_callbacks(self, module) -> list:
        """The transformer's validation on the held-out clips and its early stopping.

        They belong to the first fit (continued training trains on all of its clips,
        without early stopping) and come before the checkpoint's callback, which
        saves their state.
        """
        if not (isinstance(module, TokenTransformerModel) and self.validation_fraction > 0):
            return []
        return [
            ("valid_pretext_acc", _HeldOutAccuracy()),
            ("early_stopping", _HeldOutStopping(self.n_iter_no_change, self.tol)),
        ]

    def _end_training(self, net, module) -> None:
        """Keep the best epoch's weights (``best_epoch_``), also when a finished run's
        checkpoint left nothing to train."""
        if isinstance(module, TokenTransformerModel):
            self.best_epoch_ = None
        stopping = dict(net.callbacks_).get("early_stopping")
        if stopping is None or not len(net.history):
            return
        stopping.restore_best(net)
        best = stopping.best_epoch_ if stopping.best_model_weights_ is not None else 0
        self.best_epoch_ = int(best) or len(net.history)

    def _pretrain(self, clips, targets, rng: np.random.Generator, *, epochs=None):
        model = self._build_model().to(self.device_)
        autoencoder = model.encoder
        self.stage_seconds_ = {}

        start = time.perf_counter()
        raw = self._raw_patches(model, clips)
        autoencoder.set_normalisation(torch.cat(raw))
        per_clip = [autoencoder.standardise(p) for p in raw]
        del raw
        patches = torch.cat(per_clip)
        if len(patches) < self.n_tokens:
            raise ValueError(
                f"the training clips give {len(patches)} patches, fewer than "
                f"n_tokens={self.n_tokens}: use more or longer clips, or fewer tokens"
            )
        self._check_validation(len(clips))
        self.autoencoder_ = self._train(
            PatchReconstruction(autoencoder),
            ReconstructionCriterion(),
            patches.cpu().numpy(),
            rng,
            clips=clips,
            epochs=epochs,
            stage="autoencoder",
        )
        self.stage_seconds_["autoencoder"] = time.perf_counter() - start

        start = time.perf_counter()
        with evaluation_mode(autoencoder), torch.inference_mode():
            codes = [autoencoder.encode(p).cpu().numpy() for p in per_clip]
        self.kmeans_ = MiniBatchKMeans(
            n_clusters=self.n_tokens,
            batch_size=max(1024, 4 * self.n_tokens),
            n_init=3,
            random_state=self._randomness.data_seed(),  # the next draw of rng
        ).fit(np.concatenate(codes))
        self.codebook_ = self.kmeans_.cluster_centers_.astype(np.float32)
        model.codebook.copy_(torch.from_numpy(self.codebook_))
        sequences = [self.kmeans_.predict(c) for c in codes]
        self.codebook_usage_, self.perplexity_ = codebook_statistics(sequences, self.n_tokens)
        self.stage_seconds_["kmeans"] = time.perf_counter() - start

        start = time.perf_counter()
        dataset = self._token_dataset(sequences, rng)
        # the transformer's checkpoint holds the whole model: it is resumed only over the
        # very autoencoder and codebook it was trained on (a resumed or extended first
        # stage gives others: then the transformer starts over, as an uninterrupted run)
        net = self._train(
            model,
            NextTokenCriterion(),
            dataset,
            rng,
            clips=clips,
            epochs=epochs,
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
        tokens, _ = self._frames(model, clips, sequence=model.tokenize)
        return tokens

    def _continue_dataset(self, clips, targets, rng: np.random.Generator) -> TokenContextDataset:
        # the tokenizer (autoencoder and codebook) stays as learnt: continued training
        # teaches the transformer the token sequences of the new clips
        tokens = self._tokens(self.net_.module_, clips)
        return TokenContextDataset(tokens, self.context_tokens + 1, self.n_tokens)

    def next_token_accuracy(self, X) -> float:
        """Accuracy of the transformer's next-token prediction on the clips of ``X``.

        Each clip's token sequence is read in consecutive windows of
        ``context_tokens + 1`` tokens (overlapping by one), so that every transition
        is scored once, as the held-out clips of ``validation_fraction`` are.

        Returns
        -------
        accuracy : float
        """
        model = self._fitted_model()
        windows = _consecutive_windows(self.tokenize(X), self.context_tokens, self.n_tokens)
        correct, total = next_token_counts(
            model, windows, batch_size=self.batch_size, device=self.net_.device
        )
        return correct / total if total else float("nan")

    @property
    def _n_features_out(self) -> int:
        return self.embedding_dim
