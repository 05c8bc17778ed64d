"""COLAEmbedder: contrastive learning of general-purpose audio representations."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from .._compat import Interval, StrOptions
from ..augment import make_policy
from ..heads import make_similarity
from ..losses import COLACriterion
from ..models import COLAModel
from ..training import SegmentPairDataset
from ._base import BaseWindowEmbedder

__all__ = ["COLAEmbedder"]


class COLAEmbedder(BaseWindowEmbedder):
    """Self-supervised audio embeddings by COLA (Saeed, Grangier & Zeghidour, 2021).

    Pretraining draws two random segments of ``segment_seconds`` from every clip. Their
    log-mel spectrograms go through the encoder and a projection head (Linear ->
    LayerNorm -> tanh); each anchor must pick its own positive among the positives of
    the batch (cross-entropy over a bilinear or cosine similarity). The other clips of
    the batch are the negatives. Embeddings are the encoder's output, before the head.

    Multi-strategy COLA (Kuroyanagi & Komatsu, 2022) adds two losses on the encoder's
    frame sequence, ``L = L_clip + frame_weight * L_frame + pitch_weight * L_pitch``:

    - ``L_frame``: within each segment (anchor, positive and, with the pitch loss, the
      shifted anchor), the frames at most ``frame_margin`` encoder frames away from a
      frame are its positives and the other frames its negatives (same similarity
      as the clip loss, on a frame projection head);
    - ``L_pitch``: the anchor is pitch-shifted by a ratio drawn uniformly from
      ``pitch_shift_range`` (a frequency-axis warp of its power spectrogram, on the
      training device); a pitch head must output, frame by frame, scores whose
      difference between shifted and original equals the shift in semitones (least
      squares).

    Both default to 0 (the clip loss alone); the paper's setting is 1 and 1.

    **Augmented segments by default (not in the papers).** Each of the two segments
    is augmented independently in training, as in
    :class:`~skaudio.ContrastiveAudioEmbedder` (waveform augmentations before the
    log-mel frontend, spectrogram ones after it, every draw from the model's seeded
    generator); ``transform`` never augments. The frame loss works within each
    augmented view; the pitch-shifted copy is made from the anchor after its waveform
    augmentations and replays the anchor's spectrogram draws. The default,
    ``augmentations="waveform"``, departs from the papers' COLA
    (``augmentations="none"``, two plain segments of a clip): two plain segments share
    everything that is constant within a clip (speaker, channel, level, padding), so
    the loss is solved by those shortcuts, and on speaker-held-out data it rewards
    speaker identity; augmented segments are positives that such clip-constant
    shortcuts cannot match. Measured on spoken digits with speakers held out (4
    epochs, batch 64, 0.5 s segments, 2-band readout, one seed): 0.699, against 0.533
    for the untrained encoder; plain COLA scored 0.415-0.497 at this and earlier
    settings, below its untrained encoder. See :ref:`cola-augmented`.

    **Which setting suits which data** (measured with a linear probe, groups held
    out; :ref:`guide-results`):

    - speech and vocal sounds (words, speakers, non-verbal vocalisations): the
      defaults (augmented segments, ``readout_bands="auto"``: 2 bands);
    - instrument family, music: the papers' plain COLA, ``augmentations="none",
      readout_bands=1`` (0.973 on instrument family with pitches held out, against
      0.939 untrained);
    - pitch: the ``"pitch"`` policy (the waveform policy and a random EQ, nothing that
      moves frequency; not measured yet: no pretrained row has beaten the untrained
      encoder on pitch here);
    - environmental sounds: not measured at these settings (earlier one-seed runs
      favoured :class:`~skaudio.ContrastiveAudioEmbedder`'s spectrogram policy).

    Parameters
    ----------
    sample_rate : int, default=16000
        Rate of array input, and the rate files are resampled to, in Hz.
    segment_seconds : float, default=0.96
        Length of the training segments and of the embedding windows.
    n_mels : int, default=64
        Frequency bands of the frontend (10 ms hop): mel bands, or log-frequency bands
        with ``frequency_scale="log"``.
    encoder : {"cnn", "vgg", "resnet18", "efficientnet_b0", "cpc"}, default="cnn"
        Log-mel encoder architecture (see :func:`skaudio.encoders.make_encoder`);
        ``"efficientnet_b0"`` is the encoder of the COLA paper.
    embedding_dim : int, default=512
        Size of the embeddings returned by :meth:`transform`.
    readout_bands : int or "auto", default="auto"
        Frequency bands kept in each frame of the ``"cnn"`` and ``"vgg"`` encoders: 1
        averages frequency out; ``B > 1`` keeps the last block's channels averaged over
        B frequency bands (a frequency-keeping readout, as in BYOL-A), with
        ``embedding_dim / (2 B)`` channels so the embedding keeps ``embedding_dim``
        values. ``embedding_dim / 2`` must be a multiple of B, and B at most the
        frequency rows the encoder's poolings leave (``n_mels / 16`` for the CNN).
        ``"auto"`` is 2 where the encoder allows it (``"cnn"`` or ``"vgg"`` with
        ``n_mels > 16``, the default 64 included, and ``embedding_dim`` a multiple of
        4), else 1; :meth:`fit` resolves it into ``readout_bands_``. Before 0.2 the
        default was 1. ``max_epochs=0`` with the same value is the matching
        random-init baseline.
    projection_dim : int, default=512
        Output size of the projection head used in pretraining.
    similarity : {"bilinear", "cosine"}, default="bilinear"
        ``"bilinear"`` learns ``W`` in ``a^T W p`` (COLA's choice);
        ``"cosine"`` uses cosine similarity over ``temperature``.
    temperature : float, default=0.2
        Softmax temperature; used only with ``similarity="cosine"``.
    frame_weight : float, default=0.0
        Weight of the frame-level loss; 0 disables it.
    pitch_weight : float, default=0.0
        Weight of the pitch-shift loss; 0 disables it (and the third view it needs).
    frame_margin : int, default=1
        Largest distance, in encoder frames (``encoder.time_stride`` log-mel frames
        each), of a frame-level positive.
    frame_trim : int, default=0
        Encoder frames left out of the frame loss at each end of every segment (as
        anchors, positives and negatives; see :ref:`cola-augmented`). Used only with
        ``frame_weight > 0``; at
        least two frames per segment must remain (a ``ValueError`` at the first batch
        otherwise). Not in the paper; 0 keeps every frame.
    pitch_shift_range : (float, float), default=(0.8, 1.2)
        Range of the frequency ratios of the pitch-shift loss.
    augmentations : str or list of Augmentation, default="waveform"
        Augmentations of each training segment: a policy name (one of
        :data:`skaudio.augment.POLICIES`: ``"none"``, ``"spectrogram"``,
        ``"waveform"``, ``"clar"``, ``"waveform+spectrogram"``, ``"speech"``, ``"pitch"``; see
        :func:`skaudio.augment.make_policy`) or a list of augmentation objects from
        :mod:`skaudio.augment`. ``"none"`` is the papers' COLA (the default before
        0.2); ``"waveform"`` (the default) augments each segment so that clip-constant
        shortcuts cannot match the positives (see above). Policies that standardise
        their batch (the ``"byol-a"`` ones, :class:`~skaudio.augment.BatchStandardize`)
        are refused: COLA embeds raw log-mel inputs (use
        :class:`~skaudio.ContrastiveAudioEmbedder` with ``input_normalization="dataset"``
        for them).
    {shared_parameters}

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The pretraining net; ``net_.module_`` is a :class:`skaudio.models.COLAModel`.
    history_ : skorch.History
        Per-epoch ``train_loss`` and ``train_pretext_acc`` (how often an anchor picks
        its own positive); with the extra strategies also ``train_frame_loss``,
        ``train_frame_acc`` (how often a frame's nearest other frame is a positive)
        and ``train_pitch_loss`` (squared semitones).
    device_ : str
        Device pretraining ran on.
    precision_ : str
        Precision pretraining ran in: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    segment_length_ : int
        Segment (and embedding window) length in samples.
    readout_bands_ : int
        The frequency bands the encoder's readout keeps: ``readout_bands`` with
        ``"auto"`` resolved.

    See Also
    --------
    skaudio.baselines.MFCCStatistics : hand-crafted baseline to compare against.

    References
    ----------
    A. Saeed, D. Grangier, N. Zeghidour. "Contrastive learning of general-purpose audio
    representations." ICASSP 2021.

    I. Kuroyanagi, T. Komatsu. "Self-supervised learning method using multiple sampling
    strategies for general-purpose audio representation." ICASSP 2022.

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

    _parameter_notes = {
        "batch_size": ("Here clips; the other clips of a batch are the negatives."),
        "random_state": ("Its own draws: the augmentations and the pitch shifts."),
    }

    _parameter_constraints: dict = {
        **BaseWindowEmbedder._parameter_constraints,
        "projection_dim": [Interval(Integral, 1, None, closed="left")],
        "readout_bands": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "similarity": [StrOptions({"bilinear", "cosine"})],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "frame_weight": [Interval(Real, 0, None, closed="left")],
        "pitch_weight": [Interval(Real, 0, None, closed="left")],
        "frame_margin": [Interval(Integral, 1, None, closed="left")],
        "frame_trim": [Interval(Integral, 0, None, closed="left")],
        "pitch_shift_range": [tuple, list],
        "augmentations": [str, list, tuple],
    }

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        segment_seconds: float = 0.96,
        n_mels: int = 64,
        encoder: str = "cnn",
        embedding_dim: int = 512,
        readout_bands: int | str = "auto",
        projection_dim: int = 512,
        similarity: str = "bilinear",
        temperature: float = 0.2,
        frame_weight: float = 0.0,
        pitch_weight: float = 0.0,
        frame_margin: int = 1,
        frame_trim: int = 0,
        pitch_shift_range: tuple[float, float] = (0.8, 1.2),
        augmentations="waveform",
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
        self.embedding_dim = embedding_dim
        self.readout_bands = readout_bands
        self.projection_dim = projection_dim
        self.similarity = similarity
        self.temperature = temperature
        self.frame_weight = frame_weight
        self.pitch_weight = pitch_weight
        self.frame_margin = frame_margin
        self.frame_trim = frame_trim
        self.pitch_shift_range = pitch_shift_range
        self.augmentations = augmentations
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

    _negatives_from_other_clips = True

    def _check_pretraining(self, clips) -> None:
        """Refuse augmentations that standardise their batch (COLA embeds raw log-mel)."""
        super()._check_pretraining(clips)
        self._policy()

    def _policy(self) -> list:
        """The augmentations of ``augmentations``, refusing batch-standardising ones."""
        policy = make_policy(self.augmentations)
        standardizing = [aug for aug in policy if getattr(aug, "standardizes", False)]
        if standardizing:
            raise ValueError(
                f"augmentations={self.augmentations!r} include {standardizing[0]!r} (BYOL-A's "
                "post-normalisation), which trains the encoder on standardised inputs, but "
                "COLAEmbedder embeds raw log-mel (dB) inputs; leave BatchStandardize out of "
                "the augmentations, or use ContrastiveAudioEmbedder with "
                "input_normalization='dataset'"
            )
        return policy

    def _build_model(self) -> COLAModel:
        frame_similarity = None
        if self.frame_weight > 0:
            frame_similarity = make_similarity(
                self.similarity, self.projection_dim, self.temperature
            )
        policy = self._policy()
        frontend = self._build_frontend()
        encoder = self._build_encoder(readout_bands=self.readout_bands)
        self.readout_bands_ = getattr(encoder, "readout_bands", 1)
        # the model's seed, from the fit's torch stream (skaudio._random), after the
        # encoder's weights; drawn only when the pitch strategy or augmentations need
        # it, so plain COLA initialises exactly as before
        random = self.pitch_weight > 0 or bool(policy)
        return COLAModel(
            frontend=frontend,
            encoder=encoder,
            projection_dim=self.projection_dim,
            similarity=make_similarity(self.similarity, self.projection_dim, self.temperature),
            frame_similarity=frame_similarity,
            pitch_shift_range=self._pitch_shift_range() if self.pitch_weight > 0 else None,
            seed=self._randomness.module_seed() if random else 0,
            augmentations=policy,
            frame_trim=self.frame_trim if self.frame_weight > 0 else 0,
        )

    def _pitch_shift_range(self) -> tuple[float, float]:
        values = tuple(self.pitch_shift_range)
        if not (
            len(values) == 2
            and all(isinstance(v, Real) for v in values)
            and 0 < values[0] <= values[1]
        ):
            raise ValueError(
                "pitch_shift_range must be two ratios (low, high) with 0 < low <= high, "
                f"got {self.pitch_shift_range!r}"
            )
        return float(values[0]), float(values[1])

    def _build_criterion(self) -> COLACriterion:
        return COLACriterion(
            self.frame_weight,
            self.pitch_weight,
            self.frame_margin,
            gather_distributed=self.distributed,
        )

    def _training_dataset(self, clips, targets, rng: np.random.Generator) -> SegmentPairDataset:
        return SegmentPairDataset(clips, self._segment_length, rng)
