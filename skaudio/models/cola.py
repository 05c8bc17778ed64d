"""COLA pretraining model (Saeed, Grangier & Zeghidour, ICASSP 2021), with the
frame-level and pitch-shift strategies of Kuroyanagi & Komatsu (ICASSP 2022)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import nn

from ..augment import Augmentation, split_by_domain
from ..features import LogMelSpectrogram, warp_frequency
from ..heads import ProjectionHead
from ._base import EmbeddingModel

__all__ = ["COLAModel", "COLAOutput"]


class COLAOutput(NamedTuple):
    """What :class:`skaudio.models.COLAModel` returns in pretraining.

    The input of :class:`skaudio.losses.COLACriterion`; each field is also an attribute. The fields
    of a strategy that is off stay ``None``.

    Parameters
    ----------
    clip_logits : Tensor of shape (batch, batch)
        Anchors against positives of this process's batch; positives on the diagonal.
    frame_logits : Tensor of shape (n_views * batch, n_frames, n_frames) or None, default=None
        Frame-against-frame similarities within each view (frame strategy only):
        anchors, positives, then the pitch-shifted anchors if any (``n_views`` is 2,
        or 3 with the pitch strategy).
    pitch_shifted : Tensor of shape (batch, n_frames) or None, default=None
        Pitch-head outputs on the frames of the pitch-shifted anchors (pitch strategy
        only).
    pitch_original : Tensor of shape (batch, n_frames) or None, default=None
        Pitch-head outputs on the frames of the anchors (pitch strategy only).
    semitones : Tensor of shape (batch,) or None, default=None
        The applied pitch shifts, in semitones (pitch strategy only).
    anchors, positives : Tensor of shape (batch, projection_dim) or None, default=None
        The projections that ``clip_logits`` compares, and
    similarity : callable or None, default=None
        the model's similarity that compared them: with them,
        :class:`~skaudio.losses.COLACriterion` can score the anchors of all processes
        against the positives of all processes (``gather_distributed``).

    Examples
    --------
    >>> import torch
    >>> from skaudio.models import COLAOutput
    >>> output = COLAOutput(torch.zeros(4, 4))  # plain COLA: clip logits only
    >>> output.clip_logits.shape, output.frame_logits, output.semitones
    (torch.Size([4, 4]), None, None)
    """

    clip_logits: torch.Tensor
    frame_logits: torch.Tensor | None = None
    pitch_shifted: torch.Tensor | None = None
    pitch_original: torch.Tensor | None = None
    semitones: torch.Tensor | None = None
    anchors: torch.Tensor | None = None
    positives: torch.Tensor | None = None
    similarity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None


class COLAModel(EmbeddingModel):
    """Encoder + projection head + similarity, scoring every anchor against every positive.

    The pretraining model of COLA (Saeed, Grangier & Zeghidour, 2021), trained with
    :class:`skaudio.losses.COLACriterion`: two segments of each clip, the anchor and
    the positive, are embedded and projected (Linear -> LayerNorm -> tanh), and the
    similarity of every anchor to every positive of the batch makes the logits.

    All views go through the encoder as one batch, so batch-norm statistics are
    shared by them. The model sees only its process's batch: in multi-process
    training the criterion gathers the projections of all processes, so that the
    negatives come from the global batch (``COLACriterion(gather_distributed=True)``,
    which scores them with this model's ``similarity``).

    With ``augmentations`` (not in the paper, which augments nothing), each segment is
    augmented independently in training mode, as in :class:`ContrastiveModel`: the
    waveform augmentations run on ``[anchor; positive]`` before the frontend, the
    spectrogram ones after it, on the anchors and then on the positives, every draw
    from the model's generator (seeded by ``seed``). In evaluation mode nothing is
    augmented.

    Two optional strategies of multi-strategy COLA (Kuroyanagi & Komatsu, 2022) reuse
    the encoder's frame sequence:

    - frame level: a frame head (Linear -> LayerNorm -> tanh per frame) and a
      similarity between every pair of frames of each view;
    - pitch shift: the anchor's power spectrogram is pitch-shifted on the model's
      device by a random ratio (:func:`skaudio.features.warp_frequency`) and becomes a
      third view; a pitch head (a two-layer MLP to one scalar per frame) scores the
      frames of the anchor and of its shifted copy.

    Which views the strategies see when there are augmentations: the frame loss
    works within each view, on the augmented views (every view its own draws); the
    shifted copy is the warp of the anchor *after* its waveform augmentations, and
    its spectrogram augmentations replay the anchor's draws (the generator is rewound
    to where the anchor's began), so the anchor and its copy get the same augmentation
    and the pitch target is still the shift between them. ``frame_trim`` drops the first and last
    frames of every view from the frame loss (anchors, positives and negatives), so
    that the segment edges (padding, onsets cut by the crop) cannot tell frames
    apart; the pitch and clip losses keep all frames.

    Parameters
    ----------
    frontend : LogMelSpectrogram
        Log-mel frontend; also defines the model's sample rate.
    encoder : FrameEncoder
        A log-mel encoder (a waveform encoder only without the two strategies); see
        :mod:`skaudio.encoders`.
    projection_dim : int
        Output size of the projection heads (clip and frame).
    similarity : nn.Module
        Maps projected ``(batch, projection_dim)`` anchors and positives to
        ``(batch, batch)`` logits, e.g. :class:`skaudio.heads.BilinearSimilarity`.
    frame_similarity : nn.Module or None, default=None
        Similarity of the frame strategy (``None`` disables it); applied batch-wise
        to ``(views, n_frames, dim)``.
    pitch_shift_range : (float, float) or None, default=None
        Range of the uniformly drawn frequency ratios of the pitch strategy (``None``
        disables it).
    seed : int, default=0
        Seed of the pitch-shift and augmentation draws (see :class:`EmbeddingModel`).
    augmentations : sequence of Augmentation, default=()
        Waveform and spectrogram augmentations (see :mod:`skaudio.augment`), applied
        to each view in training mode only, waveform ones first.
    frame_trim : int, default=0
        Encoder frames left out of the frame loss at each end of every view; at
        least two frames must remain.

    Raises
    ------
    ValueError
        If a strategy or a spectrogram augmentation is given with an encoder of raw
        waveforms, or ``frame_trim`` is negative; in ``forward``, if ``frame_trim``
        leaves fewer than two frames.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import CNNEncoder
    >>> from skaudio.features import LogMelSpectrogram
    >>> from skaudio.heads import BilinearSimilarity
    >>> from skaudio.models import COLAModel
    >>> _ = torch.manual_seed(0)
    >>> encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    >>> model = COLAModel(LogMelSpectrogram(8000, n_mels=16), encoder, 8, BilinearSimilarity(8))
    >>> output = model(torch.randn(4, 2000), torch.randn(4, 2000))  # anchors, positives
    >>> output.clip_logits.shape, output.frame_logits is None
    (torch.Size([4, 4]), True)
    """

    def __init__(
        self,
        frontend: LogMelSpectrogram,
        encoder: nn.Module,
        projection_dim: int,
        similarity: nn.Module,
        frame_similarity: nn.Module | None = None,
        pitch_shift_range: tuple[float, float] | None = None,
        seed: int = 0,
        augmentations: Sequence[Augmentation] = (),
        frame_trim: int = 0,
    ) -> None:
        super().__init__(frontend, encoder, seed=seed)
        if (frame_similarity is not None or pitch_shift_range is not None) and (
            not self.uses_spectrogram
        ):
            raise ValueError("the frame and pitch strategies need a log-mel encoder")
        self.waveform_augmentations, self.spectrogram_augmentations = split_by_domain(augmentations)
        if self.spectrogram_augmentations and not self.uses_spectrogram:
            raise ValueError(
                "spectrogram augmentations need log-mel input, but the encoder reads raw "
                f"waveforms: {self.spectrogram_augmentations}; use waveform augmentations"
            )
        if frame_trim < 0:
            raise ValueError(f"frame_trim must be >= 0, got {frame_trim}")
        self.frame_trim = int(frame_trim)
        self.head = ProjectionHead(encoder.embedding_dim, projection_dim)
        self.similarity = similarity
        self.frame_similarity = frame_similarity
        self.frame_head = (
            ProjectionHead(encoder.frame_dim, projection_dim) if frame_similarity else None
        )
        self.pitch_shift_range = pitch_shift_range
        self.pitch_head = (
            nn.Sequential(
                nn.Linear(encoder.frame_dim, encoder.frame_dim),
                nn.ReLU(inplace=True),
                nn.Linear(encoder.frame_dim, 1),
            )
            if pitch_shift_range is not None
            else None
        )

    @property
    def _augments(self) -> bool:
        """Whether a forward pass now augments its views (training mode, a policy)."""
        return self.training and bool(self.waveform_augmentations or self.spectrogram_augmentations)

    def _augment_waveforms(self, anchor: torch.Tensor, positive: torch.Tensor):
        """``[anchor; positive]``, through the waveform augmentations when augmenting."""
        waveforms = torch.cat([anchor, positive])
        if self._augments:
            generator = self.random_generator(anchor.device)
            for aug in self.waveform_augmentations:
                waveforms = aug(waveforms, generator)
        return waveforms

    def _augment_spectrograms(self, views: list[torch.Tensor], generator, replay: bool):
        """Spectrogram augmentations of the anchors, of their shifted copies (with the
        anchors' draws replayed, when ``replay``) and of the positives, in that order.

        An augmentation's draws depend only on the generator's state and the batch's
        shape (see :class:`skaudio.augment.Augmentation`), so rewinding the generator
        repeats them.
        """
        anchor, positive, *shifted = views

        def augment(spec: torch.Tensor) -> torch.Tensor:
            for aug in self.spectrogram_augmentations:
                spec = aug(spec, generator)
            return spec

        start = generator.get_state()
        anchor = augment(anchor)
        if replay:
            after = generator.get_state()
            generator.set_state(start)
            shifted = [augment(shifted[0])]
            generator.set_state(after)
        return [anchor, augment(positive), *shifted]

    def _spectrograms(self, anchor: torch.Tensor, positive: torch.Tensor):
        """Log-mel of [anchor; positive; (shifted anchor)], and the shifts in semitones.

        Augmented in training mode when the model has augmentations.
        """
        augments, n = self._augments, anchor.shape[0]
        if augments:  # the pitch ratios are drawn after the waveform augmentations
            anchor, positive = self._augment_waveforms(anchor, positive).chunk(2)
        if self.pitch_shift_range is None:
            spectrograms, semitones = self.frontend(torch.cat([anchor, positive])), None
        else:
            low, high = self.pitch_shift_range
            generator = self.random_generator(anchor.device)
            draws = torch.rand(n, generator=generator, device=anchor.device)
            ratios = low + (high - low) * draws
            power = self.frontend.power_spectrogram(anchor)
            views = [
                power,
                self.frontend.power_spectrogram(positive),
                warp_frequency(power, ratios),
            ]
            semitones = 12.0 * torch.log2(ratios)
            spectrograms = self.frontend.log_mel(torch.cat(views))
        if augments and self.spectrogram_augmentations:
            views = list(spectrograms.split(n))
            replay = self.pitch_shift_range is not None
            generator = self.random_generator(anchor.device)
            spectrograms = torch.cat(self._augment_spectrograms(views, generator, replay))
        return spectrograms, semitones

    def _trimmed(self, frames: torch.Tensor) -> torch.Tensor:
        """The frames of the frame loss: ``frame_trim`` left out at each end."""
        k = self.frame_trim
        if k == 0:
            return frames
        if frames.shape[1] - 2 * k < 2:
            raise ValueError(
                f"frame_trim={k} leaves {frames.shape[1] - 2 * k} of the {frames.shape[1]} "
                "encoder frames of a segment for the frame loss, which needs at least 2; "
                "lower frame_trim or lengthen the segments"
            )
        return frames[:, k:-k]

    def _clip_output(self, anchors: torch.Tensor, positives: torch.Tensor) -> COLAOutput:
        """The clip logits of the projections, with what a gathering criterion needs."""
        return COLAOutput(
            self.similarity(anchors, positives),
            anchors=anchors,
            positives=positives,
            similarity=self.similarity,
        )

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor) -> COLAOutput:
        """Similarity logits of every anchor segment against every positive segment.

        Parameters
        ----------
        anchor : Tensor of shape (batch, n_samples)
        positive : Tensor of shape (batch, n_samples)
            Another segment of the same clip as ``anchor``, row for row.

        Returns
        -------
        output : COLAOutput
            ``clip_logits`` of shape (batch, batch), positives on the diagonal, with
            the projected ``anchors`` and ``positives`` and the ``similarity`` that
            compared them; the frame logits and pitch scores when those strategies are
            on. Everything is of this process's batch.
        """
        if not self.uses_spectrogram:
            clips = self.embed(self._augment_waveforms(anchor, positive))
            anchors, positives = self.head(clips).chunk(2)
            return self._clip_output(anchors, positives)
        n = anchor.shape[0]
        spectrograms, semitones = self._spectrograms(anchor, positive)
        frames = self.encoder.forward_frames(spectrograms.unsqueeze(1))
        anchors, positives = self.head(self.encoder.pool(frames[: 2 * n])).chunk(2)
        output = self._clip_output(anchors, positives)
        if self.frame_head is not None:
            projected = self.frame_head(self._trimmed(frames))
            output = output._replace(frame_logits=self.frame_similarity(projected, projected))
        if self.pitch_head is not None:
            scores = self.pitch_head(torch.cat([frames[:n], frames[2 * n :]])).squeeze(-1)
            output = output._replace(
                pitch_original=scores[:n], pitch_shifted=scores[n:], semitones=semitones
            )
        return output
