"""CPC pretraining model: encoder, autoregressive context network, future predictors."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from ..encoders.cpc import CPCLogMelEncoder, CPCWaveformEncoder
from ..features import LogMelSpectrogram
from ._base import EmbeddingModel

__all__ = ["CPCModel", "CPCOutput"]


class CPCOutput(NamedTuple):
    """What :class:`skaudio.models.CPCModel` returns in pretraining.

    The arguments of :func:`skaudio.losses.cpc_infonce`, as read by
    :class:`skaudio.losses.CPCCriterion`; each
    field is also an attribute.

    Parameters
    ----------
    z : Tensor of shape (batch, n_frames, z_dim)
        Encoder outputs :math:`z_t`.
    predictions : Tensor of shape (n_predict, batch, n_frames, z_dim)
        ``predictions[k - 1, b, t]`` predicts ``z[b, t + k]`` from the context at ``t``.
    valid : Tensor of shape (batch, n_frames), dtype bool
        Which frames hold audio (the rest is padding).

    Examples
    --------
    >>> import torch
    >>> from skaudio.models import CPCOutput
    >>> z, valid = torch.zeros(2, 5, 4), torch.ones(2, 5, dtype=torch.bool)
    >>> output = CPCOutput(z, torch.zeros(3, 2, 5, 4), valid)
    >>> output.predictions.shape, output._fields
    (torch.Size([3, 2, 5, 4]), ('z', 'predictions', 'valid'))
    """

    z: torch.Tensor
    predictions: torch.Tensor
    valid: torch.Tensor


class GRUContext(nn.Module):
    """Single-layer GRU summarising ``z_1..z_t`` into ``c_t``.

    Parameters
    ----------
    z_dim, c_dim : int
    """

    def __init__(self, z_dim: int, c_dim: int) -> None:
        super().__init__()
        self.gru = nn.GRU(z_dim, c_dim, batch_first=True)

    def forward(self, z: torch.Tensor, max_frames: int | None = None) -> torch.Tensor:
        """(batch, n_frames, z_dim) -> (batch, n_frames, c_dim), causal.

        With ``max_frames``, a longer sequence is run in chunks of ``max_frames``
        frames, the hidden state carried from one to the next: the same contexts as
        one pass (up to float rounding), with bounded intermediate memory.
        """
        if max_frames is None or z.shape[1] <= max_frames:
            return self.gru(z)[0]
        pieces, state = [], None
        for start in range(0, z.shape[1], max_frames):
            piece, state = self.gru(z[:, start : start + max_frames], state)
            pieces.append(piece)
        return torch.cat(pieces, dim=1)


class CausalTransformer(nn.Module):
    """Transformer encoder with a causal mask: ``c_t`` attends to ``z_1..z_t`` only.

    A linear map to ``c_dim``, sinusoidal positions (any length), then pre-norm
    transformer layers (feed-forward width ``4 * c_dim``).

    Parameters
    ----------
    z_dim, c_dim : int
        ``c_dim`` must be a multiple of ``n_heads``.
    n_layers : int, default=2
    n_heads : int, default=4
    dropout : float, default=0.1
    """

    def __init__(
        self, z_dim: int, c_dim: int, n_layers: int = 2, n_heads: int = 4, dropout: float = 0.1
    ) -> None:
        super().__init__()
        if c_dim % n_heads:
            raise ValueError(f"c_dim={c_dim} must be a multiple of transformer_heads={n_heads}")
        self.input = nn.Linear(z_dim, c_dim)
        layer = nn.TransformerEncoderLayer(
            c_dim, n_heads, 4 * c_dim, dropout, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c_dim)
        self.c_dim = c_dim

    def _positions(self, n_frames: int, device: torch.device) -> torch.Tensor:
        position = torch.arange(n_frames, device=device, dtype=torch.float32)[:, None]
        rate = torch.exp(
            torch.arange(0, self.c_dim, 2, device=device) * (-math.log(10000.0) / self.c_dim)
        )
        table = torch.zeros(n_frames, self.c_dim, device=device)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate[: self.c_dim // 2])
        return table

    def forward(self, z: torch.Tensor, max_frames: int | None = None) -> torch.Tensor:
        """(batch, n_frames, z_dim) -> (batch, n_frames, c_dim), causal.

        With ``max_frames``, a longer sequence is read in overlapping chunks of
        ``max_frames`` frames, half a chunk apart (positions restart at 0 in each
        chunk, as in the training crops): a chunk's first half is context only, its
        second half is kept, so every kept ``c_t`` attends to between
        ``max_frames // 2`` and ``max_frames`` frames ``z_t-k..z_t`` and attention
        memory is bounded (``max_frames ** 2`` per head) instead of quadratic in the
        length. The first chunk is kept whole: those contexts are those of one pass.
        """
        n_frames = z.shape[1]
        if max_frames is None or n_frames <= max_frames:
            return self._attend(z)
        overlap = max_frames // 2
        pieces = [self._attend(z[:, :max_frames])]
        for kept_from in range(max_frames, n_frames, max_frames - overlap):
            start = kept_from - overlap
            pieces.append(self._attend(z[:, start : start + max_frames])[:, overlap:])
        return torch.cat(pieces, dim=1)

    def _attend(self, z: torch.Tensor) -> torch.Tensor:
        """One pass of causal attention over the whole of ``z``."""
        n_frames = z.shape[1]
        h = self.input(z) + self._positions(n_frames, z.device)
        mask = nn.Transformer.generate_square_subsequent_mask(n_frames, device=z.device)
        return self.norm(self.layers(h, mask=mask, is_causal=True))


def make_context_network(
    kind: str,
    z_dim: int,
    c_dim: int,
    n_layers: int = 2,
    n_heads: int = 4,
    dropout: float = 0.1,
) -> nn.Module:
    """Build the ``"gru"`` or ``"transformer"`` context network."""
    if kind == "gru":
        return GRUContext(z_dim, c_dim)
    if kind == "transformer":
        return CausalTransformer(z_dim, c_dim, n_layers, n_heads, dropout)
    raise ValueError(f"unknown context network {kind!r}; choose 'gru' or 'transformer'")


class CPCModel(EmbeddingModel):
    """Contrastive predictive coding: ``z_t = enc(x)``, ``c_t = ar(z_<=t)``, ``W_k c_t ~ z_t+k``.

    The pretraining model of CPC (van den Oord, Li & Vinyals, 2018), trained with
    :class:`skaudio.losses.CPCCriterion`: the encoder turns a training segment into a sequence
    ``z_t``, a causal context network summarises ``z_1..z_t`` into ``c_t``, and one
    linear map ``W_k`` per step predicts ``z_{t+k}`` from ``c_t``. The frame
    embeddings are the contexts ``c_t`` by default.

    Parameters
    ----------
    frontend : LogMelSpectrogram
        Log-mel frontend; also defines the model's sample rate. Encoders of raw
        waveforms bypass it.
    encoder : FrameEncoder
        Gives ``z_t`` as its frames (``frame_dim`` = ``z_dim``), e.g.
        :class:`skaudio.encoders.CPCLogMelEncoder`.
    context : nn.Module
        Causal map ``(batch, n_frames, z_dim) -> (batch, n_frames, c_dim)``, e.g. a
        single-layer GRU or a causal transformer.
    c_dim : int
        Size of the context vectors ``c_t``.
    n_predict : int
        Number of future steps predicted, each by its own linear map ``W_k``.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import CPCLogMelEncoder
    >>> from skaudio.features import LogMelSpectrogram
    >>> from skaudio.models import CPCModel
    >>> from skaudio.models.cpc import GRUContext
    >>> _ = torch.manual_seed(0)
    >>> encoder = CPCLogMelEncoder(n_mels=16, embedding_dim=16, patch_frames=4, channels=(4,))
    >>> model = CPCModel(LogMelSpectrogram(8000, n_mels=16), encoder, GRUContext(8, 8), 8, 2)
    >>> output = model(torch.randn(2, 4000), torch.tensor([4000, 2000]))  # 2nd: half padding
    >>> output.predictions.shape, output.valid.sum(dim=1).tolist()
    (torch.Size([2, 2, 13, 8]), [13, 7])
    """

    def __init__(
        self,
        frontend: LogMelSpectrogram,
        encoder: nn.Module,
        context: nn.Module,
        c_dim: int,
        n_predict: int,
    ) -> None:
        super().__init__(frontend, encoder)
        self.context = context
        self.c_dim = c_dim
        self.n_predict = n_predict
        # W_1..W_K stacked in one layer: one matmul predicts every step
        self.predictor = nn.Linear(c_dim, n_predict * encoder.frame_dim, bias=False)

    def sequences(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder and context sequences.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)

        Returns
        -------
        z : Tensor of shape (batch, n_frames, z_dim)
        c : Tensor of shape (batch, n_frames, c_dim)
        """
        z = self.encoder.forward_frames(self.spectrogram(waveforms))
        return z, self.context(z)

    #: longest sequence, in frames, that :meth:`embed_frames` runs the CPC encoders and
    #: the context network over in one pass; longer clips are embedded in chunks
    max_chunk_frames = 2048

    def embed_frames(self, waveforms: torch.Tensor, features: str = "context") -> torch.Tensor:
        """Frame embeddings: the context ``c_t`` (default) or the encoder's ``z_t``.

        A clip of at most :attr:`max_chunk_frames` frames is embedded in one pass. A
        longer one is embedded in chunks, so that memory does not grow faster than
        the clip: the CPC encoders compute ``max_chunk_frames`` frames at a time, each
        with its whole receptive field; the GRU context carries its hidden state from
        chunk to chunk (both: the frames of one pass, up to float rounding); the
        transformer context attends within overlapping chunks (see
        :class:`CausalTransformer`), a bounded context rather than a quadratic one.
        Other encoders run over the whole clip.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)
        features : {"context", "encoder"}, default="context"

        Returns
        -------
        frames : Tensor of shape (batch, n_frames, c_dim or z_dim)
        """
        chunk = self.max_chunk_frames
        x = self.spectrogram(waveforms)
        if isinstance(self.encoder, CPCWaveformEncoder | CPCLogMelEncoder):
            z = self.encoder.forward_frames(x, max_frames=chunk)
        else:
            z = self.encoder.forward_frames(x)
        if features == "encoder":
            return z
        if isinstance(self.context, GRUContext | CausalTransformer):
            return self.context(z, max_frames=chunk)
        return self.context(z)

    def forward(self, window: torch.Tensor, n_valid: torch.Tensor) -> CPCOutput:
        """Encoder outputs, predictions of every future step, and which frames are audio.

        Parameters
        ----------
        window : Tensor of shape (batch, n_samples)
            Training crops; a clip shorter than the segment is zero-padded at the end.
        n_valid : Tensor of shape (batch,)
            Samples of real audio at the start of each segment.

        Returns
        -------
        output : CPCOutput
        """
        z, c = self.sequences(window)
        batch, n_frames, z_dim = z.shape
        predictions = self.predictor(c).reshape(batch, n_frames, self.n_predict, z_dim)
        n_audio = torch.div(
            n_valid.to(z.device) + self.frame_hop - 1, self.frame_hop, rounding_mode="floor"
        )
        valid = torch.arange(n_frames, device=z.device)[None] < n_audio[:, None]
        return CPCOutput(z, predictions.permute(2, 0, 1, 3), valid)
