"""
Token transformer: audio as a sequence of discrete tokens
=========================================================

:class:`~skaudio.TokenTransformerEmbedder` turns audio into tokens in three stages:
patches of log-mel frames are compressed by an autoencoder, the bottleneck codes are
clustered by k-means into a codebook, and each patch becomes the index of its nearest
codeword. A small causal transformer is then trained to predict the next token; its
hidden states are the embeddings.

This example fits a small model, draws the tokens of a clip under its spectrogram,
and shows how evenly the codebook is used. Next-token accuracy is compared with the
simplest baseline, always predicting the most frequent token.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from skaudio import TokenTransformerEmbedder
from skaudio.datasets import load_spoken_digits
from skaudio.features import LogMelSpectrogram

digits = load_spoken_digits()
subset = np.random.default_rng(0).choice(len(digits.data), 500, replace=False)
X = [digits.data[i] for i in subset]
sr = digits.sample_rate

model = TokenTransformerEmbedder(
    sample_rate=sr,
    n_tokens=32,
    autoencoder_width=128,
    batch_size=128,
    max_epochs=3,
    random_state=0,
).fit(X)
print("seconds per stage:", {k: round(v, 1) for k, v in model.stage_seconds_.items()})
print(f"codebook perplexity {model.perplexity_:.1f} of {model.n_tokens} tokens")

# %%
# The tokens of one clip, under its log-mel spectrogram
# -----------------------------------------------------
clip = X[0]
tokens = model.tokenize([clip])[0]
mel = LogMelSpectrogram(sample_rate=sr, n_mels=model.n_mels)(torch.from_numpy(clip)[None])[0]
fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 4), sharex=True, height_ratios=(3, 1))
top.imshow(mel.numpy(), origin="lower", aspect="auto", cmap="magma")
top.set(ylabel="mel band", title=f"digit {digits.target[subset[0]]}: log-mel and tokens")
centres = (np.arange(len(tokens)) + 0.5) * model.patch_frames
bottom.step(centres, tokens, where="mid")
bottom.set(xlabel="frame (10 ms)", ylabel="token")
fig.tight_layout()

# %%
# Codebook usage and next-token accuracy
# --------------------------------------
# A codebook used evenly has a perplexity close to its size; a few dominant tokens
# make prediction easy and the tokens uninformative.
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.bar(np.arange(model.n_tokens), model.codebook_usage_)
ax.set(xlabel="token", ylabel="share of patches", title="codebook usage")
fig.tight_layout()
all_tokens = np.concatenate(model.tokenize(X[:100]))
majority = np.bincount(all_tokens, minlength=model.n_tokens).max() / len(all_tokens)
print(
    f"next-token accuracy {model.next_token_accuracy(X[:100]):.3f}, "
    f"most frequent token {majority:.3f}"
)
