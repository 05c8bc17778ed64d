"""COLAEmbedder: contrastive learning of general-purpose audio representations."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..heads import make_similarity
from ..losses import ContrastiveCrossEntropy
from ..models import COLAModel
from ..training import SegmentPairDataset
from ._base import BaseAudioEmbedder

__all__ = ["COLAEmbedder"]


class COLAEmbedder(BaseAudioEmbedder):
    """Self-supervised audio embeddings by COLA (Saeed, Grangier & Zeghidour, 2021).

    Pretraining draws two random segments of ``segment_seconds`` from every clip. Their
    log-mel spectrograms go through the encoder and a projection head (Linear ->
    LayerNorm -> tanh); each anchor must pick its own positive among the positives of
    the batch (cross-entropy over a bilinear or cosine similarity). The other clips of
    the batch are the negatives. Embeddings are the encoder's output, before the head.

    Parameters
    ----------
    sample_rate : int, default=16000
        Rate of array input, and the rate files are resampled to, in Hz.
    segment_seconds : float, default=0.96
        Length of the training segments and of the embedding windows.
    n_mels : int, default=64
        Mel bands of the log-mel frontend (25 ms windows, 10 ms hop).
    encoder : {"cnn", "vgg", "resnet18"}, default="cnn"
        Encoder architecture (see :data:`skaudio.encoders.ENCODERS`).
    embedding_dim : int, default=512
        Size of the embeddings returned by :meth:`transform`.
    projection_dim : int, default=512
        Output size of the projection head used in pretraining.
    similarity : {"bilinear", "cosine"}, default="bilinear"
        ``"bilinear"`` learns ``W`` in ``a^T W p`` (COLA's choice);
        ``"cosine"`` uses cosine similarity over ``temperature``.
    temperature : float, default=0.2
        Softmax temperature; used only with ``similarity="cosine"``.
    batch_size : int, default=256
        Clips per pretraining batch; the other clips of a batch are the negatives.
    max_epochs : int, default=100
        Pretraining epochs. ``0`` keeps the randomly initialised encoder: the baseline
        that pretraining must beat.
    lr : float, default=1e-3
        AdamW learning rate.
    weight_decay : float, default=0.0
        AdamW weight decay.
    device : str, default="auto"
        ``"auto"`` picks ``"cuda"`` when available, else ``"cpu"``; or any torch device.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, segment sampling and batch order. An int gives
        identical results across calls (on the same device).
    verbose : int, default=0
        ``1`` or more shows a progress bar and the loss per epoch.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The pretraining net; ``net_.module_`` is a :class:`skaudio.models.COLAModel`.
    history_ : skorch.History
        Per-epoch ``train_loss`` and ``train_pretext_acc`` (how often an anchor picks
        its own positive).
    device_ : str
        Device pretraining ran on.
    segment_length_ : int
        Segment (and embedding window) length in samples.

    See Also
    --------
    skaudio.baselines.MFCCStatistics : hand-crafted baseline to compare against.

    References
    ----------
    A. Saeed, D. Grangier, N. Zeghidour. "Contrastive learning of general-purpose audio
    representations." ICASSP 2021.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skaudio import COLAEmbedder
    >>> from skaudio.datasets import make_tones
    >>> X, y = make_tones(n_clips=40, sample_rate=8000, random_state=0)
    >>> embedder = COLAEmbedder(sample_rate=8000, segment_seconds=0.25, embedding_dim=32,
    ...                         batch_size=16, max_epochs=1, random_state=0)
    >>> pipe = make_pipeline(embedder, LogisticRegression()).fit(X, y)
    >>> embedder.transform(X[:3]).shape
    (3, 32)
    """

    _parameter_constraints: dict = {
        **BaseAudioEmbedder._parameter_constraints,
        "projection_dim": [Interval(Integral, 1, None, closed="left")],
        "similarity": [StrOptions({"bilinear", "cosine"})],
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        segment_seconds: float = 0.96,
        n_mels: int = 64,
        encoder: str = "cnn",
        embedding_dim: int = 512,
        projection_dim: int = 512,
        similarity: str = "bilinear",
        temperature: float = 0.2,
        batch_size: int = 256,
        max_epochs: int = 100,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
    ) -> None:
        self.sample_rate = sample_rate
        self.segment_seconds = segment_seconds
        self.n_mels = n_mels
        self.encoder = encoder
        self.embedding_dim = embedding_dim
        self.projection_dim = projection_dim
        self.similarity = similarity
        self.temperature = temperature
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build_model(self) -> COLAModel:
        return COLAModel(
            frontend=self._build_frontend(),
            encoder=self._build_encoder(),
            projection_dim=self.projection_dim,
            similarity=make_similarity(self.similarity, self.projection_dim, self.temperature),
        )

    def _build_criterion(self) -> ContrastiveCrossEntropy:
        return ContrastiveCrossEntropy()

    def _training_dataset(self, waveforms, targets, rng: np.random.Generator) -> SegmentPairDataset:
        return SegmentPairDataset(waveforms, self._segment_length, rng)
