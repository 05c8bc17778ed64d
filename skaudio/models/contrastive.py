"""SimCLR/CLAR pretraining model: augmented views, encoder, MLP head, optional classifier."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..augment import Augmentation, split_by_domain
from ..features import LogMelSpectrogram
from ..heads import MLPHead
from ._base import EmbeddingModel

__all__ = ["ContrastiveModel"]


class ContrastiveModel(EmbeddingModel):
    """Two augmented views of each clip through a shared encoder and projection head.

    The pretraining model of SimCLR (Chen et al., 2020) applied to audio as in CLAR
    (Al-Tahan & Mohsenzadeh, 2021), trained with
    :class:`skaudio.losses.NTXentCriterion`, or without negatives with
    :class:`skaudio.losses.BarlowTwinsCriterion` or :class:`skaudio.losses.VICRegCriterion`.

    In training mode the waveform augmentations run before the frontend and the
    spectrogram augmentations after it, on the model's device, each drawing from the
    model's own generator (seeded by ``augment_seed``). In evaluation mode nothing is
    augmented, so :meth:`embed` is deterministic.

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

    Raises
    ------
    ValueError
        If spectrogram augmentations are given with an encoder of raw waveforms.

    Examples
    --------
    >>> import torch
    >>> from skaudio.augment import Gain, TimeMasking
    >>> from skaudio.encoders import CNNEncoder
    >>> from skaudio.features import LogMelSpectrogram
    >>> from skaudio.models import ContrastiveModel
    >>> _ = torch.manual_seed(0)
    >>> encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    >>> model = ContrastiveModel(
    ...     LogMelSpectrogram(8000, n_mels=16), encoder, [Gain(6.0), TimeMasking(0.2)],
    ...     projection_dim=8, projection_layers=2, n_classes=3)
    >>> z1, z2, class_logits = model(torch.randn(4, 2000), torch.randn(4, 2000))
    >>> z1.shape, z2.shape, class_logits.shape
    (torch.Size([4, 8]), torch.Size([4, 8]), torch.Size([8, 3]))
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
    ) -> None:
        super().__init__(frontend, encoder, seed=augment_seed)
        self.waveform_augmentations, self.spectrogram_augmentations = split_by_domain(augmentations)
        if self.spectrogram_augmentations and not self.uses_spectrogram:
            raise ValueError(
                "spectrogram augmentations need log-mel input, but the encoder reads raw "
                f"waveforms: {self.spectrogram_augmentations}; use a waveform policy"
            )
        self.head = MLPHead(encoder.embedding_dim, projection_dim, projection_layers)
        self.classifier = nn.Linear(projection_dim, n_classes) if n_classes else None

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
        generator = self.random_generator(waveforms.device)
        for aug in self.waveform_augmentations:
            waveforms = aug(waveforms, generator)
        if not self.uses_spectrogram:
            return self.encoder(waveforms.unsqueeze(1))
        spec = self.frontend(waveforms)
        for aug in self.spectrogram_augmentations:
            spec = aug(spec, generator)
        return self.encoder(spec.unsqueeze(1))

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
        """
        z = self.head(self.view(torch.cat([anchor, positive])))
        class_logits = self.classifier(z) if self.classifier is not None else None
        z1, z2 = z.chunk(2)
        return z1, z2, class_logits
