"""Token transformer (Verma & Smith): log-mel patches -> autoencoder codes -> k-means
tokens -> causal transformer predicting the next token."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..features import LogMelSpectrogram
from ._base import EmbeddingModel

__all__ = [
    "NextTokenOutput",
    "TokenTransformerModel",
]


class NextTokenOutput(NamedTuple):
    """Next-token logits and targets: what :class:`skaudio.models.TokenTransformerModel` returns.

    The input of :class:`skaudio.losses.NextTokenCriterion`; each field is also an attribute.

    Parameters
    ----------
    logits : Tensor of shape (batch, n_steps, n_tokens)
        Scores of every token of the vocabulary, at every step.
    targets : Tensor of shape (batch, n_steps), dtype long
        Id of the next token at every step; ``-1`` marks padding.

    Examples
    --------
    >>> import torch
    >>> from skaudio.models import NextTokenOutput
    >>> output = NextTokenOutput(torch.zeros(2, 3, 5), torch.tensor([[1, 2, -1], [0, 4, 3]]))
    >>> output.logits.shape, output.targets.dtype
    (torch.Size([2, 3, 5]), torch.int64)
    """

    logits: torch.Tensor
    targets: torch.Tensor


class PatchReconstruction(nn.Module):
    """Trains a :class:`skaudio.encoders.PatchAutoencoder` on standardised patch vectors.

    Parameters
    ----------
    autoencoder : PatchAutoencoder
    """

    def __init__(self, autoencoder: nn.Module) -> None:
        super().__init__()
        self.autoencoder = autoencoder

    def forward(self, patches: torch.Tensor):
        """(batch, patch_dim) -> (reconstruction, patches), both (batch, patch_dim)."""
        return self.autoencoder.decode(self.autoencoder.encode(patches)), patches


class NextTokenTransformer(nn.Module):
    """Causal transformer over token windows, with a small representation before the softmax.

    Token and learned position embeddings (``d_model``), ``n_layers`` pre-norm
    transformer layers with a causal mask, then a dense layer to ``embedding_dim``
    units (tanh) -- the representation -- and a linear map to the token logits.

    Parameters
    ----------
    n_tokens : int
        Vocabulary size; token id ``n_tokens`` is padding.
    context : int
        Longest window, in tokens.
    d_model, n_heads, n_layers, feedforward : int
    embedding_dim : int
    dropout : float, default=0.1
    """

    def __init__(
        self,
        n_tokens: int,
        context: int,
        d_model: int,
        n_heads: int,
        n_layers: int,
        feedforward: int,
        embedding_dim: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        self.n_tokens = n_tokens
        self.context = context
        self.tokens = nn.Embedding(n_tokens + 1, d_model, padding_idx=n_tokens)
        self.positions = nn.Embedding(context, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, feedforward, dropout, batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.represent = nn.Sequential(
            nn.LayerNorm(d_model), nn.Linear(d_model, embedding_dim), nn.Tanh()
        )
        self.output = nn.Linear(embedding_dim, n_tokens)

    def representation(self, tokens: torch.Tensor) -> torch.Tensor:
        """(batch, n_steps <= context) tokens -> (batch, n_steps, embedding_dim)."""
        n_steps = tokens.shape[1]
        h = self.tokens(tokens) + self.positions(torch.arange(n_steps, device=tokens.device))
        mask = nn.Transformer.generate_square_subsequent_mask(n_steps, device=tokens.device)
        return self.represent(self.layers(h, mask=mask, is_causal=True))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(batch, n_steps) tokens -> (batch, n_steps, n_tokens) next-token logits."""
        return self.output(self.representation(tokens))


class TokenTransformerModel(EmbeddingModel):
    """Frontend, patch autoencoder, codebook and next-token transformer in one module.

    The token transformer of Verma & Smith: log-mel patches are encoded by an
    autoencoder, each code is replaced by the id of its nearest codebook entry, and a
    causal transformer learns to predict the next token (with
    :class:`skaudio.losses.NextTokenCriterion`). Its frame embeddings are the
    transformer's representation of every token.

    The codebook (k-means centroids of the autoencoder codes) is a buffer, so
    tokenising runs in torch on the model's device and travels with the model. It
    starts at zeros; :class:`skaudio.TokenTransformerEmbedder` fills it in before
    training the transformer.

    Parameters
    ----------
    frontend : LogMelSpectrogram
        Log-mel frontend; also defines the model's sample rate.
    autoencoder : PatchAutoencoder
        The encoder of this model: its frames are the patch codes.
    transformer : NextTokenTransformer
        Causal transformer over windows of ``context`` tokens; its ``n_tokens`` sets
        the size of the codebook.
    corrupt_probability : float, default=0.2
        Share of training batches whose inputs are corrupted.
    corrupt_share : float, default=0.2
        Share of the input tokens of a corrupted batch replaced by random tokens.
    seed : int, default=0
        Seed of the corruption draws.

    Examples
    --------
    >>> import torch
    >>> from skaudio.encoders import PatchAutoencoder
    >>> from skaudio.features import LogMelSpectrogram
    >>> from skaudio.models import TokenTransformerModel
    >>> from skaudio.models.token_transformer import NextTokenTransformer
    >>> _ = torch.manual_seed(0)
    >>> transformer = NextTokenTransformer(
    ...     n_tokens=5, context=4, d_model=8, n_heads=2, n_layers=1, feedforward=16,
    ...     embedding_dim=4)
    >>> autoencoder = PatchAutoencoder(n_mels=8, embedding_dim=4, patch_frames=2, hidden=8)
    >>> model = TokenTransformerModel(LogMelSpectrogram(8000, n_mels=8), autoencoder, transformer)
    >>> output = model(torch.randint(0, 5, (2, 5)))  # windows of context + 1 tokens
    >>> output.logits.shape, model.eval().embed_frames(torch.randn(2, 800)).shape
    (torch.Size([2, 4, 5]), torch.Size([2, 6, 4]))
    """

    def __init__(
        self,
        frontend: LogMelSpectrogram,
        autoencoder: nn.Module,
        transformer: NextTokenTransformer,
        corrupt_probability: float = 0.2,
        corrupt_share: float = 0.2,
        seed: int = 0,
    ) -> None:
        super().__init__(frontend, autoencoder, seed=seed)
        self.transformer = transformer
        self.corrupt_probability = corrupt_probability
        self.corrupt_share = corrupt_share
        self.register_buffer("codebook", torch.zeros(transformer.n_tokens, autoencoder.frame_dim))

    @property
    def frame_dim(self) -> int:
        """Size of the representation of each token."""
        return self.transformer.output.in_features

    def tokenize(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, n_samples) -> (batch, n_patches) ids of the nearest codebook entries."""
        codes = self.encoder.forward_frames(self.spectrogram(waveforms))
        # on CUDA, the direct distance: the matmul form runs in TF32 during fit and
        # can flip near-tie tokens (the CPU keeps torch's default, unchanged)
        default = "use_mm_for_euclid_dist_if_necessary"
        mode = "donot_use_mm_for_euclid_dist" if codes.is_cuda else default
        codebook = self.codebook.expand(codes.shape[0], -1, -1)
        return torch.cdist(codes, codebook, compute_mode=mode).argmin(dim=-1)

    def embed_frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Representation of every token, read in consecutive windows of ``context`` tokens.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples)

        Returns
        -------
        frames : Tensor of shape (batch, n_patches, embedding_dim)
        """
        tokens = self.tokenize(waveforms)
        batch, n_steps = tokens.shape
        context = self.transformer.context
        n_windows = -(-n_steps // context)
        padded = tokens.new_full((batch, n_windows * context), self.transformer.n_tokens)
        padded[:, :n_steps] = tokens
        windows = padded.reshape(batch * n_windows, context)
        frames = self.transformer.representation(windows)
        return frames.reshape(batch, n_windows * context, -1)[:, :n_steps]

    def _corrupt(self, tokens: torch.Tensor) -> torch.Tensor:
        """Replace a share of the tokens of a batch drawn as corrupted by random tokens.

        Whether the batch is corrupted stays a device tensor (masking the replacement),
        so an accelerator never waits on the host. On the CPU, where reading it costs
        nothing, an uncorrupted batch returns before the per-token draws: the
        generator's stream, and so every result, is the one of the original branch.
        """
        generator = self.random_generator(tokens.device)
        draw = torch.rand((), generator=generator, device=tokens.device)
        corrupted = draw < self.corrupt_probability
        if tokens.device.type == "cpu" and not corrupted:
            return tokens
        replace = torch.rand(tokens.shape, generator=generator, device=tokens.device)
        replace = (replace < self.corrupt_share) & (tokens < self.transformer.n_tokens) & corrupted
        random_tokens = torch.randint(
            0, self.transformer.n_tokens, tokens.shape, generator=generator, device=tokens.device
        )
        return torch.where(replace, random_tokens, tokens)

    def forward(self, tokens: torch.Tensor) -> NextTokenOutput:
        """Next-token logits of a window of ``context + 1`` tokens.

        Parameters
        ----------
        tokens : Tensor of shape (batch, context + 1), dtype long
            Token windows; the padding id (``n_tokens``) marks steps past a clip's end.

        Returns
        -------
        output : NextTokenOutput
            Logits of shape (batch, context, n_tokens) and targets (batch, context),
            ``-1`` where the target is padding.
        """
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        if self.training:
            inputs = self._corrupt(inputs)
        targets = targets.masked_fill(targets == self.transformer.n_tokens, -1)
        return NextTokenOutput(self.transformer(inputs), targets)
