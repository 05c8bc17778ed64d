"""Two-view pretraining models: SimCLR/CLAR's (views, encoder, MLP head), and BYOL's."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .._compat import momentum_update_
from ..augment import Augmentation, split_by_domain
from ..features import LogMelSpectrogram, warp_frequency
from ..heads import MLPHead, PitchHead
from ._base import EmbeddingModel

__all__ = [
    "BYOLModel",
    "BYOLOutput",
    "ContrastiveModel",
    "PitchEquivarianceOutput",
    "byol_momentum",
]


class BYOLOutput(NamedTuple):
    """What :class:`skaudio.models.BYOLModel` returns in pretraining.

    The input of :class:`skaudio.losses.BYOLCriterion`; each field is also an attribute. Row ``i``
    of every field is clip ``i`` of the batch.

    Parameters
    ----------
    predictions1, predictions2 : Tensor of shape (batch, projection_dim)
        The online network's predictions :math:`q` of the first and second view.
    class_logits : Tensor of shape (2 * batch, n_classes) or None
        The classifier's logits of the online projections of ``[view 1; view 2]``
        (semi-supervised training), or None.
    targets1, targets2 : Tensor of shape (batch, projection_dim)
        The target network's projections :math:`z'` of the first and second view
        (computed without gradient).

    Examples
    --------
    >>> import torch
    >>> from skaudio.models import BYOLOutput
    >>> output = BYOLOutput(*torch.zeros(2, 4, 8), None, *torch.ones(2, 4, 8))
    >>> output.predictions1.shape, output.class_logits, float(output.targets2.sum())
    (torch.Size([4, 8]), None, 32.0)
    """

    predictions1: torch.Tensor
    predictions2: torch.Tensor
    class_logits: torch.Tensor | None
    targets1: torch.Tensor
    targets2: torch.Tensor


class PitchEquivarianceOutput(NamedTuple):
    """What a two-view model with a pitch head returns in pretraining.

    :class:`skaudio.models.ContrastiveModel` and :class:`skaudio.models.BYOLModel`
    built with ``pitch_shift_semitones`` return it: their usual output, and the
    pitch scores of the frames of a pitch pair (a view and its pitch-shifted copy).
    The input of
    :class:`skaudio.losses.PitchEquivarianceCriterion`; each field is also an attribute.

    Parameters
    ----------
    views : tuple or BYOLOutput
        What the model returns without the pitch head, for the objective's criterion:
        ``(z1, z2, class_logits)``, or a :class:`BYOLOutput`. It holds no trace of
        the shifted copy.
    pitch_original : Tensor of shape (batch, n_frames)
        Pitch-head scores of the frames of the pair's original.
    pitch_shifted : Tensor of shape (batch, n_frames)
        Pitch-head scores of the frames of its copy shifted by ``semitones``.
    semitones : Tensor of shape (batch,)
        The applied shifts, in semitones.

    Examples
    --------
    >>> import torch
    >>> from skaudio.models import PitchEquivarianceOutput
    >>> z1, z2 = torch.zeros(2, 4, 8)
    >>> output = PitchEquivarianceOutput((z1, z2, None), *torch.zeros(2, 4, 3), torch.ones(4))
    >>> output.views[0].shape, output.pitch_shifted.shape, output.semitones.shape
    (torch.Size([4, 8]), torch.Size([4, 3]), torch.Size([4]))
    """

    views: tuple | BYOLOutput
    pitch_original: torch.Tensor
    pitch_shifted: torch.Tensor
    semitones: torch.Tensor


def byol_momentum(step: int, total_steps: int, base: float = 0.99) -> float:
    r"""BYOL's cosine schedule of the target network's EMA momentum.

    .. math::

        \tau_k = 1 - (1 - \tau_{\text{base}}) \, \frac{\cos(\pi k / K) + 1}{2},

    rising from :math:`\tau_{\text{base}}` at step 0 to 1 at step :math:`K`
    (Grill et al., 2020, section 3.2).

    Parameters
    ----------
    step : int
        Optimiser steps done, :math:`k` (clipped to ``[0, total_steps]``).
    total_steps : int
        Steps of the whole run, :math:`K` (at least 1).
    base : float, default=0.99
        :math:`\tau_{\text{base}}`, in [0, 1].

    Returns
    -------
    momentum : float

    Examples
    --------
    >>> from skaudio.models import byol_momentum
    >>> byol_momentum(0, 100), round(byol_momentum(50, 100), 4), byol_momentum(100, 100)
    (0.99, 0.995, 1.0)
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    if not 0.0 <= base <= 1.0:
        raise ValueError(f"base must be in [0, 1], got {base}")
    progress = min(max(step, 0), total_steps) / total_steps
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


class ContrastiveModel(EmbeddingModel):
    """Two augmented views of each clip through a shared encoder and projection head.

    The pretraining model of SimCLR (Chen et al., 2020) applied to audio as in CLAR
    (Al-Tahan & Mohsenzadeh, 2021), trained with
    :class:`skaudio.losses.NTXentCriterion`, or without negatives with
    :class:`skaudio.losses.BarlowTwinsCriterion` or :class:`skaudio.losses.VICRegCriterion`;
    :class:`BYOLModel` adds BYOL's predictor and target network to it.

    In training mode the waveform augmentations run before the frontend and the
    spectrogram augmentations after it, on the model's device, each drawing from the
    model's own generator (seeded by ``augment_seed``). In evaluation mode nothing is
    augmented, so :meth:`embed` is deterministic.

    With ``normalize_input``, the log-mel input of the encoder is standardised with the
    dataset statistics (:meth:`EmbeddingModel.standardize_input`): in training after
    the spectrogram augmentations (they work in dB), but before the first augmentation
    that standardises the batch itself (one whose ``standardizes`` attribute is true,
    such as :class:`skaudio.augment.BatchStandardize`): BYOL-A's order, pre-normalisation
    then post-normalisation.

    With ``pitch_shift_semitones`` (pitch equivariance, as in SPICE, Gfeller et al.,
    2020), the second view of every clip also gives a *pitch pair*, read only by a
    pitch head (:class:`skaudio.heads.PitchHead` on every frame of
    :meth:`FrameEncoder.forward_frames <skaudio.encoders.FrameEncoder.forward_frames>`):
    its waveform after the waveform augmentations, and a copy played
    ``2 ** (shift / 12)`` times faster (every frequency scaled by that ratio), with
    the shift drawn uniformly in ``[-pitch_shift_semitones, pitch_shift_semitones]``
    semitones per clip from the model's generator (after the augmentations' draws);
    both cut and low-passed alike so that no edge tells the shift, and turned into
    log-mel input without the spectrogram augmentations (:meth:`pitch_pair`). The
    head's scores on the copy's frames and on the original's must differ by the
    shift (:class:`skaudio.losses.PitchEquivarianceCriterion`). The shift is a
    waveform speed change, not multi-strategy COLA's warp of the power spectrogram
    (see :ref:`why <contrastive-pitch>`). The pair is encoded in the same batch as
    the two views (4 views in all), whose encoder input is exactly that of the model
    without it: the objective never sees the shift. The pitch pair is built in
    evaluation mode too (the pretext task, not an augmentation), from the unaugmented
    second view.

    Parameters
    ----------
    frontend : LogMelSpectrogram
        Log-mel frontend; also defines the model's sample rate.
    encoder : FrameEncoder
        Log-mel or waveform encoder; see :mod:`skaudio.encoders`.
    augmentations : sequence of Augmentation
        Waveform and spectrogram augmentations (see :mod:`skaudio.augment`), applied
        in training mode only, waveform ones first.
    projection_dim : int
        Width of the projection head's layers.
    projection_layers : int
        Number of linear layers of the projection head.
    n_classes : int, default=0
        With ``n_classes > 0``, a linear classifier on the projection output serves
        the supervised part of semi-supervised training.
    augment_seed : int, default=0
        Seed of the augmentation draws (see :class:`EmbeddingModel`).
    normalize_input : bool, default=False
        Standardise the log-mel input with dataset statistics (see
        :class:`EmbeddingModel`).
    pitch_shift_semitones : float or None, default=None
        Largest pitch shift of the pitch head's copy, in semitones, positive; None
        builds no pitch head and returns the plain output.

    Raises
    ------
    ValueError
        If spectrogram augmentations, ``normalize_input`` or ``pitch_shift_semitones``
        are given with an encoder of raw waveforms, or ``pitch_shift_semitones`` is
        not positive.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import Gain, SpecTimeMask
    >>> from skaudio.encoders import CNNEncoder
    >>> from skaudio.features import LogMelSpectrogram
    >>> from skaudio.models import ContrastiveModel
    >>> _ = torch.manual_seed(0)
    >>> encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    >>> model = ContrastiveModel(
    ...     LogMelSpectrogram(8000, n_mels=16), encoder, [Gain(6.0), SpecTimeMask(0.2)],
    ...     projection_dim=8, projection_layers=2, n_classes=3)
    >>> z1, z2, class_logits = model(torch.randn(4, 2000), torch.randn(4, 2000))
    >>> z1.shape, z2.shape, class_logits.shape
    (torch.Size([4, 8]), torch.Size([4, 8]), torch.Size([8, 3]))
    >>> pitched = ContrastiveModel(
    ...     LogMelSpectrogram(8000, n_mels=16), encoder, [SpecTimeMask(0.2)],
    ...     projection_dim=8, projection_layers=2, pitch_shift_semitones=4.0)
    >>> output = pitched(torch.randn(4, 2000), torch.randn(4, 2000))
    >>> output.views[0].shape, output.pitch_shifted.shape, output.semitones.shape  # 4 frames kept
    (torch.Size([4, 8]), torch.Size([4, 4]), torch.Size([4]))
    """

    def __init__(
        self,
        frontend: LogMelSpectrogram,
        encoder: nn.Module,
        augmentations: Sequence[Augmentation],
        projection_dim: int,
        projection_layers: int,
        n_classes: int = 0,
        augment_seed: int = 0,
        normalize_input: bool = False,
        pitch_shift_semitones: float | None = None,
    ) -> None:
        super().__init__(frontend, encoder, seed=augment_seed, normalize_input=normalize_input)
        self.waveform_augmentations, self.spectrogram_augmentations = split_by_domain(augmentations)
        if self.spectrogram_augmentations and not self.uses_spectrogram:
            raise ValueError(
                "spectrogram augmentations need log-mel input, but the encoder reads raw "
                f"waveforms: {self.spectrogram_augmentations}; use a waveform policy"
            )
        self.head = self._projection_head(encoder.embedding_dim, projection_dim, projection_layers)
        self.classifier = nn.Linear(projection_dim, n_classes) if n_classes else None
        self.pitch_shift_semitones = pitch_shift_semitones
        self.pitch_head = None
        if pitch_shift_semitones is not None:
            if not self.uses_spectrogram:
                raise ValueError(
                    "pitch shifts move log-mel bands, but the encoder reads raw waveforms; "
                    "use a log-mel encoder with pitch_shift_semitones"
                )
            if not pitch_shift_semitones > 0:
                raise ValueError(
                    f"pitch_shift_semitones must be positive, got {pitch_shift_semitones}"
                )
            self.pitch_shift_semitones = float(pitch_shift_semitones)
            self.pitch_head = PitchHead(encoder.frame_dim)

    @staticmethod
    def _projection_head(in_dim: int, width: int, n_layers: int) -> nn.Module:
        return MLPHead(in_dim, width, n_layers)

    def augmented_input(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Encoder input of (augmented, in training) waveforms.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)

        Returns
        -------
        x : Tensor of shape (batch, 1, n_mels, n_frames) or (batch, 1, n_samples)
            What the encoder reads (see :meth:`EmbeddingModel.spectrogram`).
        """
        if not self.training:
            return self.spectrogram(waveforms)
        waveforms = self._augment_waveforms(waveforms)
        if not self.uses_spectrogram:
            return waveforms.unsqueeze(1)
        return self._augment_spectrogram(self.frontend(waveforms))

    def _augment_waveforms(self, waveforms: torch.Tensor) -> torch.Tensor:
        generator = self.random_generator(waveforms.device)
        for aug in self.waveform_augmentations:
            waveforms = aug(waveforms, generator)
        return waveforms

    def _augment_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        """Encoder input ``(batch, 1, n_mels, n_frames)`` of log-mel spectrograms (dB)."""
        generator = self.random_generator(spec.device)
        standardized = False
        for aug in self.spectrogram_augmentations:
            if not standardized and getattr(aug, "standardizes", False):
                spec, standardized = self.standardize_input(spec), True
            spec = aug(spec, generator)
        if not standardized:
            spec = self.standardize_input(spec)
        return spec.unsqueeze(1)

    def view(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Encoder embeddings of (augmented, in training) waveforms.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)

        Returns
        -------
        embedding : Tensor of shape (batch, embedding_dim)
        """
        if not self.training:
            return self.embed(waveforms)
        return self.encoder(self.augmented_input(waveforms))

    def _pitch_pair_length(self, n_samples: int) -> int:
        """Samples of the pitch pair: as many as every speed of the range can fill."""
        return max(1, int(n_samples * 2.0 ** (-self.pitch_shift_semitones / 12.0)))

    def pitch_pair(
        self, waveforms: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder inputs of waveforms and of pitch-shifted copies, and the shifts drawn.

        The copy of row ``b`` plays it ``r_b = 2 ** (semitones[b] / 12)`` times faster,
        ``copy(t) = x(r_b t)`` (linear interpolation, :func:`skaudio.features.warp_frequency`
        along time), which moves every frequency ``f`` to ``r_b f``. Both are cut to
        the first ``L = n_samples * 2 ** (-pitch_shift_semitones / 12)`` samples
        (the longest every speed of the range fills from the row), zero-padded back to
        ``n_samples``, low-passed at ``2 ** (-pitch_shift_semitones / 12)`` times the
        Nyquist frequency (where a slower copy is empty), turned into log-mel and
        standardised as the model's input: nothing but the pitch tells them apart.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)
            (Augmented) waveforms.

        Returns
        -------
        original, shifted : Tensor of shape (batch, 1, n_mels, n_frames)
        semitones : Tensor of shape (batch,)
            Uniform in ``[-pitch_shift_semitones, pitch_shift_semitones]``, one per
            row, from the model's generator.
        """
        generator = self.random_generator(waveforms.device)
        draws = torch.rand(waveforms.shape[0], generator=generator, device=waveforms.device)
        semitones = self.pitch_shift_semitones * (2.0 * draws - 1.0)
        n_samples = waveforms.shape[1]
        length = self._pitch_pair_length(n_samples)
        # warp_frequency scales axis 1: here time, by 1 / r (sample t reads t * r)
        ratios = torch.exp2(-semitones / 12.0).to(waveforms.dtype)
        faster = warp_frequency(waveforms[:, :, None], ratios)[:, :length, 0]
        pair = F.pad(torch.cat([waveforms[:, :length], faster]), (0, n_samples - length))
        power = self.frontend.power_spectrogram(pair)
        n_bins = power.shape[1]
        cutoff = (n_bins - 1) * 2.0 ** (-self.pitch_shift_semitones / 12.0)
        kept = (torch.arange(n_bins, device=power.device) <= cutoff).to(power.dtype)[:, None]
        log_mel = self.standardize_input(self.frontend.log_mel(power * kept))
        original, shifted = log_mel.unsqueeze(1).chunk(2)
        return original, shifted, semitones

    def _encode_with_pitch(self, anchor: torch.Tensor, positive: torch.Tensor):
        """Embeddings of the two views, and the pitch head's output on the pitch pair.

        The views' encoder input is :meth:`augmented_input`'s (the same draws, in
        the same order); the pitch pair, made from the waveform-augmented ``positive``
        (:meth:`pitch_pair`, drawing last), goes through the encoder in the same
        batch, and only the pitch head reads its frames: those whose input lies in
        the pair's ``L`` samples, not in its padding.
        """
        n = anchor.shape[0]
        waveforms = torch.cat([anchor, positive])
        if self.training:
            waveforms = self._augment_waveforms(waveforms)
            x = self._augment_spectrogram(self.frontend(waveforms))
        else:
            x = self.spectrogram(waveforms)
        original, shifted, semitones = self.pitch_pair(waveforms[n:])
        frames = self.encoder.forward_frames(torch.cat([x, original, shifted]))
        length = self._pitch_pair_length(anchor.shape[1])
        kept = max(1, (length // self.frontend.hop_length) // self.encoder.time_stride)
        scores = self.pitch_head(frames[2 * n :, :kept])  # (2 * batch, kept frames)
        return self.encoder.pool(frames[: 2 * n]), x, (scores[:n], scores[n:], semitones)

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor):
        """Projections of both views, and class logits when there is a classifier.

        Parameters
        ----------
        anchor, positive : Tensor of shape (batch, n_samples)
            Two segments of the same clips, row for row.

        Returns
        -------
        z1, z2 : Tensor of shape (batch, projection_dim)
        class_logits : Tensor of shape (2 * batch, n_classes) or None
            For the views in the order ``[anchor; positive]``.

            With a pitch head, these three come as the ``views`` of a
            :class:`PitchEquivarianceOutput`, with the pitch scores
            of the frames of the pitch pair of ``positive`` (original, shifted copy),
            and the shifts.
        """
        if self.pitch_head is None:
            z = self.head(self.view(torch.cat([anchor, positive])))
        else:
            embeddings, _, pitch = self._encode_with_pitch(anchor, positive)
            z = self.head(embeddings)
        class_logits = self.classifier(z) if self.classifier is not None else None
        z1, z2 = z.chunk(2)
        if self.pitch_head is None:
            return z1, z2, class_logits
        return PitchEquivarianceOutput((z1, z2, class_logits), *pitch)


def _byol_mlp(in_dim: int, width: int, n_layers: int) -> nn.Sequential:
    """BYOL's MLP: ``n_layers`` linear layers of ``width``, batch norm and ReLU between."""
    layers: list[nn.Module] = []
    for i in range(n_layers):
        layers.append(nn.Linear(in_dim if i == 0 else width, width))
        if i < n_layers - 1:
            layers += [nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class BYOLModel(ContrastiveModel):
    r"""BYOL: an online network predicts a slowly moving target network's projection.

    Bootstrap Your Own Latent (Grill et al., 2020) on audio as in BYOL-A (Niizumi et
    al., 2021), trained with :class:`skaudio.losses.BYOLCriterion`. Both views of
    each clip are augmented as in :class:`ContrastiveModel` (one augmented input per
    view, read by both networks):

    - the *online* network is the encoder, a projection head and a predictor, both
      BYOL's MLP (linear layers of ``projection_dim``, batch norm and ReLU between
      them; the predictor has 2 layers);
    - the *target* network (``target_encoder``, ``target_head``) is a copy of the
      online encoder and head that receives no gradient: its parameters are an
      exponential moving average of the online ones,
      :math:`\xi \leftarrow \tau \xi + (1 - \tau) \theta`, with :math:`\tau` from
      :func:`byol_momentum` (cosine from ``momentum`` to 1 over
      ``total_steps``). Its batch norms keep their own running statistics.

    The moving average is taken by :meth:`update_target` at the start of every
    training-mode forward, from the online weights that the previous optimiser step
    left: the same sequence of targets as an update right after each step, but done
    by the model itself, so it needs no callback or training-loop hook, runs on the
    model's device in every process of a distributed run (the target is an ordinary
    submodule: no collective), and the target's weights and the step counter
    (buffers ``target_step`` and ``target_steps``) are in the state dict, so
    checkpoints and pickles resume exactly. (The update after the very last step of
    a run is left to the next training forward; embeddings never use the target.)

    Embeddings (:meth:`embed`) come from the online encoder. With
    ``pitch_shift_semitones``, the pitch pair (see :class:`ContrastiveModel`) goes
    through the online encoder only: the target network sees the two views alone.

    Parameters
    ----------
    frontend, encoder, augmentations, projection_dim, projection_layers, n_classes, \
augment_seed, normalize_input, pitch_shift_semitones
        As in :class:`ContrastiveModel`; the projection head is BYOL's MLP.
    momentum : float, default=0.99
        :math:`\tau_{\text{base}}`, the target's momentum at the first step, in [0, 1].
    total_steps : int, default=1
        Optimiser steps of the run, over which :math:`\tau` rises to 1; see
        :meth:`restart_momentum_schedule`.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import SpecTimeMask
    >>> from skaudio.encoders import CNNEncoder
    >>> from skaudio.features import LogMelSpectrogram
    >>> from skaudio.models import BYOLModel
    >>> _ = torch.manual_seed(0)
    >>> encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    >>> model = BYOLModel(LogMelSpectrogram(8000, n_mels=16), encoder, [SpecTimeMask(0.2)],
    ...     projection_dim=8, projection_layers=2, total_steps=100)
    >>> output = model(torch.randn(4, 2000), torch.randn(4, 2000))
    >>> output.predictions1.shape, output.targets2.shape, output.targets1.requires_grad
    (torch.Size([4, 8]), torch.Size([4, 8]), False)
    >>> int(model.target_step), round(model.target_momentum, 6)  # one update done
    (1, 0.990002)
    """

    def __init__(
        self,
        frontend: LogMelSpectrogram,
        encoder: nn.Module,
        augmentations: Sequence[Augmentation],
        projection_dim: int,
        projection_layers: int,
        n_classes: int = 0,
        augment_seed: int = 0,
        normalize_input: bool = False,
        momentum: float = 0.99,
        total_steps: int = 1,
        pitch_shift_semitones: float | None = None,
    ) -> None:
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        super().__init__(
            frontend,
            encoder,
            augmentations,
            projection_dim,
            projection_layers,
            n_classes=n_classes,
            augment_seed=augment_seed,
            normalize_input=normalize_input,
            pitch_shift_semitones=pitch_shift_semitones,
        )
        self.predictor = _byol_mlp(projection_dim, projection_dim, 2)
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.target_head = copy.deepcopy(self.head).requires_grad_(False)
        self.momentum = float(momentum)
        self.register_buffer("target_step", torch.zeros((), dtype=torch.long))
        self.register_buffer("target_steps", torch.tensor(max(1, int(total_steps))))

    @staticmethod
    def _projection_head(in_dim: int, width: int, n_layers: int) -> nn.Module:
        return _byol_mlp(in_dim, width, n_layers)

    def restart_momentum_schedule(self, total_steps: int) -> None:
        """Start the momentum schedule again: from ``momentum`` to 1 over ``total_steps``.

        Parameters
        ----------
        total_steps : int
            Optimiser steps of the schedule (at least 1 is used).
        """
        self.target_step.zero_()
        self.target_steps.fill_(max(1, int(total_steps)))

    @property
    def target_momentum(self) -> float:
        """:math:`\\tau` of the next target update."""
        return byol_momentum(int(self.target_step), int(self.target_steps), self.momentum)

    def _target_momentum(self) -> torch.Tensor:
        """:attr:`target_momentum` as a 0-d tensor on the buffers' device, never read back.

        :func:`byol_momentum` in float64 (float32 on MPS, which has no
        float64), operation for operation, from the step counters on the device.
        """
        wide = torch.float32 if self.target_step.device.type == "mps" else torch.float64
        total = self.target_steps.clamp_min(1).to(wide)
        progress = torch.minimum(self.target_step.to(wide).clamp_min(0), total) / total
        return 1.0 - (1.0 - self.momentum) * (torch.cos(math.pi * progress) + 1.0) / 2.0

    def _online_and_target(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        online = [*self.encoder.parameters(), *self.head.parameters()]
        target = [*self.target_encoder.parameters(), *self.target_head.parameters()]
        return online, target

    @torch.no_grad()
    def update_target(self) -> None:
        """Move the target towards the online network, then count the step.

        Every target parameter becomes ``tau * target + (1 - tau) * online``, with
        ``tau`` = :attr:`target_momentum`; ``target_step`` grows by 1.
        """
        tau = self._target_momentum()  # on the device: no host read in the training step
        online, target = self._online_and_target()
        momentum_update_(target, online, tau)
        self.target_step += 1

    def forward(self, anchor: torch.Tensor, positive: torch.Tensor) -> BYOLOutput:
        """Online predictions and target projections of both views.

        In training mode, the target is first updated (:meth:`update_target`).

        Parameters
        ----------
        anchor, positive : Tensor of shape (batch, n_samples)
            Two segments of the same clips, row for row.

        Returns
        -------
        output : BYOLOutput
            ``predictions1``, ``predictions2``, ``targets1``, ``targets2`` of shape
            (batch, projection_dim); ``class_logits`` of shape (2 * batch, n_classes)
            for the online projections of ``[anchor; positive]``, or None. With a
            pitch head, the ``views`` of a :class:`PitchEquivarianceOutput`.
        """
        if self.training:
            self.update_target()
        if self.pitch_head is None:
            x = self.augmented_input(torch.cat([anchor, positive]))
            z = self.head(self.encoder(x))
        else:
            embeddings, x, pitch = self._encode_with_pitch(anchor, positive)
            z = self.head(embeddings)
        q1, q2 = self.predictor(z).chunk(2)
        with torch.no_grad():
            t1, t2 = self.target_head(self.target_encoder(x)).chunk(2)
        class_logits = self.classifier(z) if self.classifier is not None else None
        output = BYOLOutput(q1, q2, class_logits, t1, t2)
        return output if self.pitch_head is None else PitchEquivarianceOutput(output, *pitch)
