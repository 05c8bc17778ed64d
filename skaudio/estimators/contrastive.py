"""ContrastiveAudioEmbedder: SimCLR/CLAR-style contrastive learning over augmented views."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

from .._compat import Interval, StrOptions
from ..augment import make_policy
from ..exceptions import DegenerateTrainingWarning
from ..losses import (
    BarlowTwinsCriterion,
    BYOLCriterion,
    NTXentCriterion,
    PitchEquivarianceCriterion,
    VICRegCriterion,
)
from ..models import BYOLModel, ContrastiveModel
from ..training import SegmentPairDataset
from ._base import BaseWindowEmbedder

__all__ = ["ContrastiveAudioEmbedder"]

#: most training crops the statistics of ``input_normalization="dataset"`` are measured on
_NORMALIZATION_CROPS = 1024


def _log_mel_statistics(
    frontend, clips, segment_length: int, batch_size: int, rng: np.random.Generator
):
    """Mean and (population) standard deviation of the log-mel values of training crops.

    One random crop of each clip, of at most ``_NORMALIZATION_CROPS`` clips drawn
    without replacement, all drawn from ``rng``; accumulated in
    float64, batch by batch (Chan et al.'s pairwise update), so memory holds one batch.
    A standard deviation under 1e-3 dB (constant crops, such as silence) is taken as
    1: the input is then only centred.
    """
    n = len(clips)
    chosen = np.arange(n)
    if n > _NORMALIZATION_CROPS:
        chosen = np.sort(rng.choice(n, _NORMALIZATION_CROPS, replace=False))
    count, mean, m2 = 0, 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(chosen), batch_size):
            crops = [
                clips.random_segment(int(i), segment_length, rng)
                for i in chosen[start : start + batch_size]
            ]
            values = frontend(torch.from_numpy(np.stack(crops))).double().flatten()
            k, batch_mean = values.numel(), values.mean().item()
            batch_m2 = (values - batch_mean).square().sum().item()
            delta, total = batch_mean - mean, count + k
            mean += delta * k / total
            m2 += batch_m2 + delta**2 * count * k / total
            count = total
    std = math.sqrt(m2 / count)
    return mean, std if std >= 1e-3 else 1.0


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


class ContrastiveAudioEmbedder(BaseWindowEmbedder):
    """Audio embeddings by contrasting augmented views (SimCLR; CLAR; Verma & Smith).

    Each clip gives two random segments of ``segment_seconds``; each is augmented
    independently (waveform augmentations, then the log-mel frontend, then spectrogram
    augmentations, all in torch on the training device), encoded, and projected by an
    MLP head. The NT-Xent loss (``objective="nt_xent"``, the default) pulls the two
    views of a clip together and pushes the other ``2 * batch_size - 2`` views apart;
    the non-contrastive objectives ``"barlow_twins"`` and ``"vicreg"`` need no
    negatives, and keep the projections from collapsing through statistics of the
    batch instead; ``"byol"`` has an online network predict a slowly moving target
    network's projection of the other view. Embeddings are the encoder's output,
    before the head, computed without augmentation. :func:`skaudio.make_byol_a` sets
    BYOL-A's recipe.

    **Defaults.** The waveform augmentation policy and a frequency-keeping readout of
    2 bands (``readout_bands="auto"``) are the best recipe measured here on speech and
    vocal sounds (linear probe, groups held out, 4 epochs, batch 64; 3 seeds): spoken
    digits 0.701 +- 0.019 against 0.505 for the same encoder untrained, non-verbal
    vocalisations 0.707 +- 0.014 (untrained 0.588), emotional speech 0.605 +- 0.011
    (untrained 0.515); the defaults before 0.2, the spectrogram policy and one band,
    gave 0.47-0.55 on the digits. Which setting suits which data
    (:ref:`guide-results`):

    - speech and vocal sounds: the defaults;
    - instrument family, music: :class:`~skaudio.COLAEmbedder` with
      ``augmentations="none", readout_bands=1`` did best (0.973, pitches held out);
      this estimator's defaults only tied their untrained encoder there (0.926 against
      0.927, one seed);
    - pitch: ``augmentations="pitch"`` (the waveform policy and a random EQ, nothing
      that moves frequency); the spectrogram policy's frequency stretch erases pitch;
    - environmental sounds: not measured at these settings; earlier one-seed runs
      favoured ``augmentations="spectrogram"``.

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
        Frequency bands of the frontend, mel or log-frequency (``frequency_scale``);
        unused with ``input_representation="waveform"``.
    encoder : {"cnn", "vgg", "resnet18", "efficientnet_b0", "cpc"}, default="cnn"
        Encoder architecture (see :func:`skaudio.encoders.make_encoder`); raw
        waveforms take ``"resnet18"`` (a 1-D ResNet18) or ``"cpc"``.
    input_representation : {"logmel", "waveform"}, default="logmel"
        What the encoder reads: log-mel spectrograms or raw waveforms (then only
        waveform augmentations apply).
    input_normalization : {"auto", "none", "dataset"}, default="auto"
        ``"auto"`` is ``"dataset"`` when the augmentations standardise their batches
        (the ``"byol-a"`` policies, or a :class:`~skaudio.augment.BatchStandardize`
        in the list), else ``"none"`` (the log-mel in dB, as it is).
        ``"dataset"`` standardises the encoder's log-mel input with the mean and
        standard deviation of the log-mel values (dB) of the training data (BYOL-A's
        pre-normalisation): :meth:`fit` measures them, before training, on one
        random crop of each of up to 1024 clips (drawn from ``random_state``) and
        stores them in the model (buffers ``input_mean``, ``input_std`` of
        ``net_.module_``), which then standardises in training (after the
        spectrogram augmentations, which work in dB, and before a
        :class:`~skaudio.augment.BatchStandardize`) and in :meth:`transform`.
        Continued training keeps the first fit's statistics. Raw-waveform encoders
        refuse it (ValueError). The ``"byol-a"`` policies need it (``"none"`` with
        them is refused).
    embedding_dim : int, default=512
        Size of the embeddings returned by :meth:`transform`.
    readout_bands : int or "auto", default="auto"
        Frequency bands kept in each frame of the ``"cnn"`` and ``"vgg"`` encoders: 1
        averages frequency out; ``B > 1`` keeps the last block's channels averaged over
        B frequency bands (a frequency-keeping readout, as in BYOL-A), with
        ``embedding_dim / (2 B)`` channels so the embedding keeps ``embedding_dim``
        values. ``embedding_dim / 2`` must be a multiple of B, and B at most the
        frequency rows the encoder's poolings leave (``n_mels / 16`` for the CNN).
        ``"auto"`` is 2 where the encoder allows it (``"cnn"`` or ``"vgg"`` on log-mel
        input with ``n_mels > 16``, the default 64 included, and ``embedding_dim`` a
        multiple of 4), else 1 (raw-waveform encoders among them); :meth:`fit`
        resolves it into ``readout_bands_``. Before 0.2 the default was 1.
        ``max_epochs=0`` with the same value is the matching random-init baseline.
    augmentations : str or list of Augmentation, default="waveform"
        A policy name (one of :data:`skaudio.augment.POLICIES`: ``"none"``,
        ``"spectrogram"``, ``"waveform"``, ``"clar"``, ``"waveform+spectrogram"``,
        ``"byol-a"``, ``"byol-a-pitch"``, ``"speech"``, ``"pitch"``; see
        :func:`skaudio.augment.make_policy`) or a list of augmentation objects
        from :mod:`skaudio.augment`. ``"waveform"`` (the default; ``"spectrogram"``
        before 0.2) suits speech and vocal sounds (see above). The ``"byol-a"``
        policies end with BYOL-A's post-normalisation
        (:class:`~skaudio.augment.BatchStandardize`), which trains the encoder on
        standardised inputs: they need ``input_normalization="dataset"`` (what
        ``"auto"`` picks for them) so that it embeds standardised inputs too.
    projection_dim : int, default=128
        Width of the projection head's layers.
    projection_layers : int, default=2
        Linear layers in the projection head.
    objective : {"nt_xent", "barlow_twins", "vicreg", "byol"}, default="nt_xent"
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
          (:class:`skaudio.losses.VICRegCriterion`);
        - ``"byol"``: BYOL (Grill et al., 2020; on audio BYOL-A, Niizumi et al.,
          2021): a predictor (BYOL's 2-layer MLP of ``projection_dim``, as the
          projection head, which is then also BYOL's MLP: batch norm and ReLU
          between its layers) on the online projection regresses the projection of
          the other view by a target network, an exponential moving average of the
          encoder and head with momentum ``byol_momentum``
          (:class:`skaudio.models.BYOLModel`,
          :class:`skaudio.losses.BYOLCriterion`; the symmetrised loss, in [0, 8]).

        Barlow Twins and VICReg are statistics of the batch (the global batch in
        distributed training); all three non-contrastive objectives ignore
        ``temperature``.
    temperature : float, default=0.2
        NT-Xent temperature; ignored by the non-contrastive objectives.
    byol_momentum : float, default=0.99
        BYOL's base momentum :math:`\\tau_{\\text{base}}` of the target network, in
        [0, 1]: after each optimiser step the target moves to ``tau * target +
        (1 - tau) * online``, ``tau`` rising from ``byol_momentum`` to 1 along a
        cosine over the optimiser steps of the fit (``max_epochs`` times the batches
        per epoch; :func:`skaudio.losses.byol_momentum`). Continued training
        (:meth:`partial_fit`, ``warm_start``) restarts that schedule over the steps
        of the call, so the target keeps following the online network (a schedule
        stretched instead would leave it frozen at ``tau`` near 1). Ignored by the
        other objectives.
    supervised_weight : float, default=0.0
        Weight of the supervised cross-entropy on labelled clips, added to any
        ``objective``; 0 ignores ``y``.
    pitch_weight : float, default=0.0
        Weight of a pitch-equivariance term added to any ``objective`` (SPICE-style
        relative pitch; :class:`skaudio.losses.PitchEquivarianceCriterion`); 0
        (the default) builds nothing and trains exactly as without it. With
        ``w > 0``, the second view of every clip after its waveform augmentations
        gives a *pitch pair*: that waveform and a copy pitch-shifted by a shift
        drawn per clip, uniformly in ``[-pitch_shift_semitones,
        pitch_shift_semitones]`` semitones, from the model's generator (played
        ``2 ** (shift / 12)`` times faster; both cut and low-passed alike, without
        spectrogram augmentations; see :meth:`skaudio.models.ContrastiveModel.pitch_pair`).
        A pitch head
        (:class:`skaudio.heads.PitchHead`: one score per encoder frame) must give the
        copy's frames the original's scores plus the shift: ``w`` times
        :func:`skaudio.losses.pitch_shift_loss` (squared semitones). The pair is
        encoded in the same batch as the two views (4 views in all: about twice the
        encoder's work) and read by the pitch head only: the objective's two views
        are those of the model without it, so the objective never learns invariance
        to the shift, while the encoder learns to keep pitch. Frame features that
        keep frequency (``readout_bands > 1``) give the head more to read. Needs a
        log-mel encoder (``input_representation="logmel"``). ``history_`` then
        records ``train_pitch_error``.
    pitch_shift_semitones : float, default=4.0
        Largest shift of the pitch pair's copy, in semitones, positive; ignored
        when ``pitch_weight=0``. The pair keeps the first ``2 ** (-s / 12)`` of the
        segment and is low-passed at that share of the Nyquist frequency (4
        semitones: 0.79), what every speed of the range fills: an empty edge would
        tell the shift without any pitch.
    {shared_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
        ``net_.module_`` is a :class:`skaudio.models.ContrastiveModel`, or a
        :class:`skaudio.models.BYOLModel` for ``objective="byol"``.
    history_ : skorch.History
        Per-epoch ``train_loss`` and the objective's metric: ``train_pretext_acc``
        for ``"nt_xent"`` (how often a view's nearest other view is its pair),
        ``train_diagonal_corr`` for ``"barlow_twins"`` (mean on-diagonal
        cross-correlation of the views, 1 when invariant) and
        ``train_embedding_std`` for ``"vicreg"`` (mean per-dimension standard
        deviation of the projections; near 0 means collapse);
        ``train_target_cosine`` and ``train_target_std`` for ``"byol"`` (cosine of
        the predictions with the target projections, and the spread of the
        normalised target projections: about 1, near 0 means collapse; see
        :class:`skaudio.losses.BYOLCriterion`). With ``pitch_weight > 0``, also
        ``train_pitch_error``: the mean absolute error, in semitones, of the shift
        the pitch head predicts for every frame (about ``pitch_shift_semitones / 2``
        for a head that predicts nothing).
    classes_ : ndarray of shape (n_classes,)
        Labels seen in semi-supervised training (empty when ``y`` was not used), set
        by the first fit and kept by continued training.
    device_ : str
    precision_ : str
        Precision pretraining ran in: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    segment_length_ : int
    readout_bands_ : int
        The frequency bands the encoder's readout keeps: ``readout_bands`` with
        ``"auto"`` resolved.

    References
    ----------
    T. Chen et al. "A simple framework for contrastive learning of visual
    representations." ICML 2020. H. Al-Tahan, Y. Mohsenzadeh. "CLAR: contrastive
    learning of auditory representations." AISTATS 2021. P. Verma, J. Smith. "A
    framework for contrastive and generative learning of audio representations." 2020.
    J. Zbontar, L. Jing, I. Misra, Y. LeCun, S. Deny. "Barlow Twins: self-supervised
    learning via redundancy reduction." ICML 2021. A. Bardes, J. Ponce, Y. LeCun.
    "VICReg: variance-invariance-covariance regularization for self-supervised
    learning." ICLR 2022. J.-B. Grill et al. "Bootstrap your own latent: a new
    approach to self-supervised learning." NeurIPS 2020. D. Niizumi, D. Takeuchi,
    Y. Ohishi, N. Harada, K. Kashino. "BYOL for audio: self-supervised learning for
    general-purpose audio representation." IJCNN 2021.

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

    _parameter_notes = {
        "batch_size": ("Here clips (``2 * batch_size`` views)."),
        "random_state": (
            "Its own draws: the augmentations and the crops that ``input_normalization`` measures."
        ),
    }

    _parameter_constraints: dict = {
        **BaseWindowEmbedder._parameter_constraints,
        "input_representation": [StrOptions({"logmel", "waveform"})],
        "input_normalization": [StrOptions({"auto", "none", "dataset"})],
        "augmentations": [str, list, tuple],
        "projection_dim": [Interval(Integral, 1, None, closed="left")],
        "readout_bands": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "projection_layers": [Interval(Integral, 1, None, closed="left")],
        "objective": [StrOptions({"nt_xent", "barlow_twins", "vicreg", "byol"})],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "byol_momentum": [Interval(Real, 0, 1, closed="both")],
        "supervised_weight": [Interval(Real, 0, None, closed="left")],
        "pitch_weight": [Interval(Real, 0, None, closed="left")],
        "pitch_shift_semitones": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        segment_seconds: float = 0.96,
        n_mels: int = 64,
        encoder: str = "cnn",
        input_representation: str = "logmel",
        input_normalization: str = "auto",
        embedding_dim: int = 512,
        readout_bands: int | str = "auto",
        augmentations="waveform",
        projection_dim: int = 128,
        projection_layers: int = 2,
        objective: str = "nt_xent",
        temperature: float = 0.2,
        byol_momentum: float = 0.99,
        supervised_weight: float = 0.0,
        pitch_weight: float = 0.0,
        pitch_shift_semitones: float = 4.0,
        frequency_scale: str = "mel",
        batch_size: int = 256,
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
        self.n_mels = n_mels
        self.frequency_scale = frequency_scale
        self.encoder = encoder
        self.input_representation = input_representation
        self.input_normalization = input_normalization
        self.embedding_dim = embedding_dim
        self.readout_bands = readout_bands
        self.augmentations = augmentations
        self.projection_dim = projection_dim
        self.projection_layers = projection_layers
        self.objective = objective
        self.temperature = temperature
        self.byol_momentum = byol_momentum
        self.supervised_weight = supervised_weight
        self.pitch_weight = pitch_weight
        self.pitch_shift_semitones = pitch_shift_semitones
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
    def _negatives_from_other_clips(self) -> bool:
        return self.objective == "nt_xent"

    def _check_pretraining(self, clips) -> None:
        """Refuse a batch-standardising policy without dataset normalisation; warn when
        a batch-statistics objective gets batches of a single clip.

        NT-Xent's missing negatives are the base class's warning; BYOL's loss is a
        mean over clips, defined for one clip.
        """
        super()._check_pretraining(clips)
        standardizing = self._standardizing_augmentations()
        if standardizing and self.input_normalization == "none":
            raise ValueError(
                f"augmentations={self.augmentations!r} end with {standardizing[0]!r} (BYOL-A's "
                "post-normalisation), which trains the encoder on standardised inputs, but "
                "input_normalization='none' embeds raw log-mel (dB) inputs; set "
                "input_normalization='dataset', or leave BatchStandardize out of the "
                "augmentations"
            )
        statistics = ("barlow_twins", "vicreg")
        if self.objective in statistics and min(len(clips), self.batch_size) < 2:
            what = f"{len(clips)} clip" if len(clips) < 2 else f"batch_size={self.batch_size}"
            warnings.warn(
                f"{type(self).__name__} trains on {what}: a batch holds a single clip, so "
                f"objective={self.objective!r} has no batch statistics to measure: its loss is 0 "
                "and teaches the encoder nothing; fit on at least 2 clips with "
                "batch_size >= 2",
                DegenerateTrainingWarning,
                stacklevel=5,
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

    def _standardizing_augmentations(self) -> list:
        """The augmentations that standardise their batch (BYOL-A's post-normalisation)."""
        return [
            aug for aug in make_policy(self.augmentations) if getattr(aug, "standardizes", False)
        ]

    @property
    def _input_normalization(self) -> str:
        """``input_normalization`` with ``"auto"`` resolved to ``"dataset"`` or ``"none"``."""
        if self.input_normalization != "auto":
            return self.input_normalization
        return "dataset" if self._standardizing_augmentations() else "none"

    def _build_model(self) -> ContrastiveModel:
        if self._input_normalization != "none" and self.input_representation == "waveform":
            raise ValueError(
                f"input_normalization={self.input_normalization!r} standardises log-mel "
                "spectrograms, but input_representation='waveform' feeds raw waveforms to "
                "the encoder; use input_normalization='none' with waveform encoders"
            )
        if self.pitch_weight > 0 and self.input_representation == "waveform":
            raise ValueError(
                f"pitch_weight={self.pitch_weight!r} pitch-shifts log-mel spectrograms, but "
                "input_representation='waveform' feeds raw waveforms to the encoder; use "
                "pitch_weight=0 with waveform encoders"
            )
        frontend = self._build_frontend()
        encoder = self._build_encoder(self.input_representation, self.readout_bands)
        self.readout_bands_ = getattr(encoder, "readout_bands", 1)
        settings = dict(
            frontend=frontend,
            encoder=encoder,
            augmentations=make_policy(self.augmentations),
            projection_dim=self.projection_dim,
            projection_layers=self.projection_layers,
            n_classes=len(self.classes_),
            # from the fit's torch stream (skaudio._random): a function of random_state
            augment_seed=self._randomness.module_seed(),
        )
        if self._input_normalization == "dataset":
            settings["normalize_input"] = True
        if self.pitch_weight > 0:
            settings["pitch_shift_semitones"] = self.pitch_shift_semitones
        if self.objective == "byol":
            # the schedule's length is set from the data in _prepare_model
            return BYOLModel(**settings, momentum=self.byol_momentum)
        return ContrastiveModel(**settings)

    def _steps(self, dataset, epochs: int) -> int:
        """Optimiser steps of ``epochs`` epochs over ``dataset`` (the last batch may be short)."""
        return math.ceil(len(dataset) / self.batch_size) * epochs

    def _prepare_model(self, module, dataset, clips, epochs: int, *, continuing: bool) -> None:
        """The model's data-dependent state, before ``epochs`` epochs of training.

        A first fit measures the dataset statistics of ``input_normalization`` (from
        the fit's shared generator, ``RunRandomness.shared_generator``, so a function
        of ``random_state``, the same in every process of a distributed run; continued
        training keeps them). BYOL's momentum schedule restarts over the optimiser
        steps of the call. A resumed run sets both again, then loads the
        checkpoint's (the same) values with the weights.
        """
        if not continuing and getattr(module, "normalizes_input", False):
            rng = self._randomness.shared_generator()
            mean, std = _log_mel_statistics(
                module.frontend, clips, self._segment_length, self.batch_size, rng
            )
            module.set_input_statistics(mean, std)
        if isinstance(module, BYOLModel):
            module.restart_momentum_schedule(self._steps(dataset, epochs))

    def _build_criterion(self) -> nn.Module:
        """The objective's criterion, wrapped with the pitch term when ``pitch_weight > 0``."""
        criterion = self._objective_criterion()
        if self.pitch_weight > 0:
            return PitchEquivarianceCriterion(criterion, self.pitch_weight)
        return criterion

    def _objective_criterion(
        self,
    ) -> NTXentCriterion | BarlowTwinsCriterion | VICRegCriterion | BYOLCriterion:
        if self.objective == "byol":
            return BYOLCriterion(
                supervised_weight=self.supervised_weight, gather_distributed=self.distributed
            )
        if self.objective == "barlow_twins":
            # 1 / dim: each row of the cross-correlation weighs its dim - 1 off-diagonal
            # entries about as much as its diagonal one, at every width. The paper's
            # 5e-3 at 8192-d is ~41 / dim, but each off-diagonal entry also carries a
            # sampling noise of ~1 / batch, which that weight lets dominate unless the
            # batches are as large as the paper's 2048.
            return BarlowTwinsCriterion(
                off_diagonal_weight=1.0 / self.projection_dim,
                supervised_weight=self.supervised_weight,
                gather_distributed=self.distributed,
            )
        if self.objective == "vicreg":
            return VICRegCriterion(
                supervised_weight=self.supervised_weight, gather_distributed=self.distributed
            )
        return NTXentCriterion(
            self.temperature, self.supervised_weight, gather_distributed=self.distributed
        )

    def _training_dataset(self, clips, targets, rng: np.random.Generator):
        return SegmentPairDataset(clips, self._segment_length, rng, targets)
