"""ContrastiveAudioEmbedder: SimCLR/CLAR-style contrastive learning over augmented views."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ..augment import make_policy
from ..exceptions import DegenerateTrainingWarning
from ..losses import BarlowTwinsCriterion, NTXentCriterion, VICRegCriterion
from ..models import ContrastiveModel
from ..training import SegmentPairDataset
from ._base import BaseAudioEmbedder

__all__ = ["ContrastiveAudioEmbedder"]


def _is_unlabelled(label: object) -> bool:
    """Whether one label of an object array is ``None``, NaN or the number ``-1``."""
    if label is None:
        return True
    if isinstance(label, Real) and not isinstance(label, bool | np.bool_):
        return bool(label != label or label == -1)  # NaN is not equal to itself
    return False


def _labelled(y: np.ndarray) -> np.ndarray:
    """Which labels of ``y`` are labels: not ``-1``, ``None`` nor NaN (unlabelled).

    The string ``"-1"`` is refused (a ValueError), being neither a class one would
    name so nor the unlabelled marker: it is what ``-1`` becomes in a string array.
    """
    if y.dtype.kind in "US" or y.dtype.kind == "O":
        values = y.tolist()
        unlabelled = np.array([_is_unlabelled(v) for v in values], dtype=bool)
        strings = [
            i for i, v in enumerate(values) if isinstance(v, str | bytes) and v in ("-1", b"-1")
        ]
        if strings:
            raise ValueError(
                f"y holds the string '-1' (first at clip {strings[0]}), which is neither "
                "a class nor the unlabelled marker; mark unlabelled clips with the integer "
                "-1, None or NaN (in a list or an object array, e.g. ['dog', None, 'cat']), "
                "or give that class another name"
            )
        return ~unlabelled
    if y.dtype.kind == "f":
        return ~(np.isnan(y) | (y == -1))
    if y.dtype.kind in "iu":
        return y != -1
    if y.dtype.kind == "b":
        return np.ones(len(y), dtype=bool)
    raise TypeError(
        f"y has dtype {y.dtype}; labels must be integers, floats, strings or other "
        "hashable values in a list or an object array"
    )


class ContrastiveAudioEmbedder(BaseAudioEmbedder):
    """Audio embeddings by contrasting augmented views (SimCLR; CLAR; Verma & Smith).

    Each clip gives two random segments of ``segment_seconds``; each is augmented
    independently (waveform augmentations, then the log-mel frontend, then spectrogram
    augmentations, all in torch on the training device), encoded, and projected by an
    MLP head. The NT-Xent loss (``objective="nt_xent"``, the default) pulls the two
    views of a clip together and pushes the other ``2 * batch_size - 2`` views apart;
    the non-contrastive objectives ``"barlow_twins"`` and ``"vicreg"`` need no
    negatives, and keep the projections from collapsing through statistics of the
    batch instead. Embeddings are the encoder's output, before the head, computed
    without augmentation.

    With ``supervised_weight > 0``, ``fit(X, y)`` is semi-supervised as in CLAR: a
    linear classifier on the projection adds ``supervised_weight`` times the
    cross-entropy of the labelled clips (``y == -1`` marks unlabelled clips, the
    scikit-learn convention; ``None`` and NaN are unlabelled too, while the string
    ``"-1"`` is refused as ambiguous). The first fit sets the label encoding
    (``classes_``): :meth:`partial_fit` and ``warm_start`` keep it and refuse classes it
    does not hold. With ``supervised_weight=0`` (the default) ``y`` is ignored, so the
    embedder stays self-supervised inside a labelled ``Pipeline``.

    Parameters
    ----------
    sample_rate : int, default=16000
        Rate of array input, and the rate files are resampled to, in Hz.
    segment_seconds : float, default=0.96
        Length of the training views and of the embedding windows.
    n_mels : int, default=64
        Mel bands of the log-mel frontend (unused with ``input_representation="waveform"``).
    encoder : {"cnn", "vgg", "resnet18", "efficientnet_b0", "cpc"}, default="cnn"
        Encoder architecture (see :func:`skaudio.encoders.make_encoder`); raw
        waveforms take ``"resnet18"`` (a 1-D ResNet18) or ``"cpc"``.
    input_representation : {"logmel", "waveform"}, default="logmel"
        What the encoder reads: log-mel spectrograms or raw waveforms (then only
        waveform augmentations apply).
    embedding_dim : int, default=512
        Size of the embeddings returned by :meth:`transform`.
    readout_bands : int, default=1
        Frequency bands kept in each frame of the ``"cnn"`` and ``"vgg"`` encoders: 1
        averages frequency out; ``B > 1`` keeps the last block's channels averaged over
        B frequency bands (a frequency-keeping readout, as in BYOL-A), with
        ``embedding_dim / (2 B)`` channels so the embedding keeps ``embedding_dim``
        values. ``embedding_dim / 2`` must be a multiple of B, and B at most the
        frequency rows the encoder's poolings leave (``n_mels / 16`` for the CNN).
        ``max_epochs=0`` with the same value is the matching random-init baseline.
    augmentations : str or list of Augmentation, default="spectrogram"
        A policy name (one of :data:`skaudio.augment.POLICIES`: ``"none"``,
        ``"spectrogram"``, ``"waveform"``, ``"clar"``, ``"waveform+spectrogram"``,
        ``"byol-a"``, ``"byol-a-pitch"``; see :func:`skaudio.augment.make_policy`) or a
        list of augmentation objects from :mod:`skaudio.augment`.
    projection_dim : int, default=128
        Width of the projection head's layers.
    projection_layers : int, default=2
        Linear layers in the projection head.
    objective : {"nt_xent", "barlow_twins", "vicreg"}, default="nt_xent"
        The pretraining loss on the two views' projections:

        - ``"nt_xent"``: SimCLR's contrastive NT-Xent
          (:class:`skaudio.losses.NTXentCriterion`);
        - ``"barlow_twins"``: Barlow Twins (Zbontar et al., 2021), which drives the
          views' cross-correlation matrix to the identity
          (:class:`skaudio.losses.BarlowTwinsCriterion`), with off-diagonal weight
          ``1 / projection_dim``, so that the redundancy of each dimension weighs
          about as much as its invariance at every width (the paper's 5e-3 was
          set for 8192-d projections and batches of 2048);
        - ``"vicreg"``: VICReg (Bardes, Ponce & LeCun, 2022), with the paper's
          weights 25 (invariance), 25 (variance) and 1 (covariance)
          (:class:`skaudio.losses.VICRegCriterion`).

        Both non-contrastive objectives are statistics of the batch (the global
        batch in distributed training) and ignore ``temperature``.
    temperature : float, default=0.2
        NT-Xent temperature; ignored by the non-contrastive objectives.
    supervised_weight : float, default=0.0
        Weight of the supervised cross-entropy on labelled clips, added to any
        ``objective``; 0 ignores ``y``.
    batch_size : int, default=256
        Clips per batch (``2 * batch_size`` views).
    max_epochs : int, default=100
        Pretraining epochs; ``0`` keeps the randomly initialised encoder.
    lr : float, default=1e-3
    weight_decay : float, default=0.0
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
        ``"auto"`` picks ``"cuda"`` when available, else ``"cpu"``.
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
        Seeds initialisation, segment sampling, batch order and augmentations.
    verbose : int, default=0

    Attributes
    ----------
    net_ : skorch.NeuralNet
        ``net_.module_`` is a :class:`skaudio.models.ContrastiveModel`.
    history_ : skorch.History
        Per-epoch ``train_loss`` and the objective's metric: ``train_pretext_acc``
        for ``"nt_xent"`` (how often a view's nearest other view is its pair),
        ``train_diagonal_corr`` for ``"barlow_twins"`` (mean on-diagonal
        cross-correlation of the views, 1 when invariant) and
        ``train_embedding_std`` for ``"vicreg"`` (mean per-dimension standard
        deviation of the projections; near 0 means collapse).
    classes_ : ndarray of shape (n_classes,)
        Labels seen in semi-supervised training (empty when ``y`` was not used), set
        by the first fit and kept by continued training.
    device_ : str
    segment_length_ : int

    References
    ----------
    T. Chen et al. "A simple framework for contrastive learning of visual
    representations." ICML 2020. H. Al-Tahan, Y. Mohsenzadeh. "CLAR: contrastive
    learning of auditory representations." AISTATS 2021. P. Verma, J. Smith. "A
    framework for contrastive and generative learning of audio representations." 2020.
    J. Zbontar, L. Jing, I. Misra, Y. LeCun, S. Deny. "Barlow Twins: self-supervised
    learning via redundancy reduction." ICML 2021. A. Bardes, J. Ponce, Y. LeCun.
    "VICReg: variance-invariance-covariance regularization for self-supervised
    learning." ICLR 2022.

    Examples
    --------
    >>> from skaudio import ContrastiveAudioEmbedder
    >>> from skaudio.datasets import make_tones
    >>> X, y = make_tones(n_clips=32, sample_rate=8000, random_state=0)
    >>> embedder = ContrastiveAudioEmbedder(sample_rate=8000, segment_seconds=0.25,
    ...     embedding_dim=32, batch_size=16, max_epochs=1, random_state=0).fit(X)
    >>> embedder.transform(X[:2]).shape
    (2, 32)
    """

    _parameter_constraints: dict = {
        **BaseAudioEmbedder._parameter_constraints,
        "input_representation": [StrOptions({"logmel", "waveform"})],
        "augmentations": [str, list, tuple],
        "projection_dim": [Interval(Integral, 1, None, closed="left")],
        "readout_bands": [Interval(Integral, 1, None, closed="left")],
        "projection_layers": [Interval(Integral, 1, None, closed="left")],
        "objective": [StrOptions({"nt_xent", "barlow_twins", "vicreg"})],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "supervised_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        segment_seconds: float = 0.96,
        n_mels: int = 64,
        encoder: str = "cnn",
        input_representation: str = "logmel",
        embedding_dim: int = 512,
        readout_bands: int = 1,
        augmentations="spectrogram",
        projection_dim: int = 128,
        projection_layers: int = 2,
        objective: str = "nt_xent",
        temperature: float = 0.2,
        supervised_weight: float = 0.0,
        batch_size: int = 256,
        max_epochs: int = 100,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        device: str = "auto",
        num_workers: int = 0,
        checkpoint_dir=None,
        warm_start: bool = False,
        distributed: bool = False,
        random_state=None,
        verbose: int = 0,
    ) -> None:
        self.sample_rate = sample_rate
        self.segment_seconds = segment_seconds
        self.n_mels = n_mels
        self.encoder = encoder
        self.input_representation = input_representation
        self.embedding_dim = embedding_dim
        self.readout_bands = readout_bands
        self.augmentations = augmentations
        self.projection_dim = projection_dim
        self.projection_layers = projection_layers
        self.objective = objective
        self.temperature = temperature
        self.supervised_weight = supervised_weight
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.device = device
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.warm_start = warm_start
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _negatives_from_other_clips(self) -> bool:
        return self.objective == "nt_xent"

    def _check_pretraining(self, clips) -> None:
        """Warn when a non-contrastive objective gets batches of a single clip.

        NT-Xent's missing negatives are the base class's warning.
        """
        super()._check_pretraining(clips)
        if self.objective != "nt_xent" and min(len(clips), self.batch_size) < 2:
            what = f"{len(clips)} clip" if len(clips) < 2 else f"batch_size={self.batch_size}"
            warnings.warn(
                f"{type(self).__name__} trains on {what}: a batch holds a single clip, so "
                f"objective={self.objective!r} has no batch statistics to measure: its loss is 0 "
                "and teaches the encoder nothing; fit on at least 2 clips with "
                "batch_size >= 2",
                DegenerateTrainingWarning,
                stacklevel=4,
            )

    def _check_targets(self, y, n_clips: int, *, continuing: bool = False) -> np.ndarray | None:
        """Integer codes of ``y`` (``-1`` unlabelled); the first fit sets ``classes_``.

        Continued training (``partial_fit``, ``warm_start``) encodes ``y`` with the
        classes of the first fit and refuses classes it did not see; nothing is
        changed when ``y`` is refused.
        """
        if y is None or self.supervised_weight == 0:
            if not continuing:
                self.classes_ = np.array([])
            return None
        labels = np.asarray(y)
        if labels.dtype.kind in "US" and not isinstance(y, np.ndarray):
            # a list mixing strings with -1, None or NaN: keep each label as given
            labels = np.asarray(y, dtype=object)
        y = labels
        if y.ndim != 1 or y.shape[0] != n_clips:
            raise ValueError(
                f"y has shape {y.shape}; expected ({n_clips},): one label per clip, "
                "-1 for unlabelled clips"
            )
        labelled = _labelled(y)
        if continuing:
            return self._encode_targets(y, labelled, self.classes_)
        if not labelled.any():
            self.classes_ = np.array([])
            return None  # all unlabelled: pure self-supervision
        try:
            classes = np.unique(y[labelled])
        except TypeError as exc:
            kinds = sorted({type(label).__name__ for label in y[labelled]})
            raise TypeError(
                f"the labels of y mix types that cannot be ordered ({', '.join(kinds)}); "
                "use labels of one type (all numbers or all strings)"
            ) from exc
        if len(classes) < 2:
            raise ValueError(
                f"the labelled clips of y hold 1 class ({classes[0]!r}); "
                "semi-supervised training needs at least 2 classes"
            )
        targets = self._encode_targets(y, labelled, classes)
        self.classes_ = classes
        return targets

    def _encode_targets(self, y: np.ndarray, labelled: np.ndarray, classes: np.ndarray):
        """Codes of the labelled clips in ``classes`` (``-1`` for the others)."""
        if labelled.any() and len(classes) == 0:
            raise ValueError(
                "y holds labels, but the embedder was first fitted without labels (classes_ "
                "is empty), so its model has no classifier to train; fit again with the "
                "labels to start semi-supervised training"
            )
        codes = {label: code for code, label in enumerate(classes.tolist())}
        targets = np.full(len(y), -1, dtype=np.int64)
        unseen = []
        for index in np.flatnonzero(labelled):
            code = codes.get(y[index].item() if isinstance(y[index], np.generic) else y[index])
            if code is None:
                unseen.append(index)
            else:
                targets[index] = code
        if unseen:
            labels = sorted(
                {repr(y[i].item() if isinstance(y[i], np.generic) else y[i]) for i in unseen}
            )
            raise ValueError(
                f"y holds label(s) {', '.join(labels[:5])} (first at clip {unseen[0]}) that "
                f"are not among the classes of the first fit, classes_={classes.tolist()}: "
                "continued training keeps the first fit's label encoding; mark those clips "
                "-1 (unlabelled), or fit again on all the classes"
            )
        return targets

    def _build_model(self) -> ContrastiveModel:
        return ContrastiveModel(
            frontend=self._build_frontend(),
            encoder=self._build_encoder(self.input_representation, self.readout_bands),
            augmentations=make_policy(self.augmentations),
            projection_dim=self.projection_dim,
            projection_layers=self.projection_layers,
            n_classes=len(self.classes_),
            # drawn from torch inside fit's seeded block: a function of random_state
            augment_seed=int(torch.randint(2**31 - 1, (1,))),
        )

    def _build_criterion(self) -> NTXentCriterion | BarlowTwinsCriterion | VICRegCriterion:
        if self.objective == "barlow_twins":
            # 1 / dim: each row of the cross-correlation weighs its dim - 1 off-diagonal
            # entries about as much as its diagonal one, at every width. The paper's
            # 5e-3 at 8192-d is ~41 / dim, but each off-diagonal entry also carries a
            # sampling noise of ~1 / batch, which that weight lets dominate unless the
            # batches are as large as the paper's 2048.
            return BarlowTwinsCriterion(
                off_diagonal_weight=1.0 / self.projection_dim,
                supervised_weight=self.supervised_weight,
            )
        if self.objective == "vicreg":
            return VICRegCriterion(supervised_weight=self.supervised_weight)
        return NTXentCriterion(self.temperature, self.supervised_weight)

    def _training_dataset(self, clips, targets, rng: np.random.Generator):
        return SegmentPairDataset(clips, self._segment_length, rng, targets)
