"""
Augmentations: what the contrastive views look like
===================================================

:class:`~skaudio.ContrastiveAudioEmbedder` learns by matching two augmented views
of a clip. The views come from a *policy* (:func:`skaudio.augment.make_policy`):
waveform augmentations run before the log-mel frontend, spectrogram augmentations
after it, all in torch on the training device with a seeded generator. This example
draws four views of one spoken digit under the ``"waveform"`` and ``"spectrogram"``
policies.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from skaudio.augment import make_policy, split_by_domain
from skaudio.datasets import load_spoken_digits
from skaudio.features import LogMelSpectrogram

digits = load_spoken_digits()
sr = digits.sample_rate
clip = np.zeros(sr // 2, dtype=np.float32)  # one 0.5 s segment, as in training
clip[: min(len(digits.data[0]), len(clip))] = digits.data[0][: len(clip)]
frontend = LogMelSpectrogram(sample_rate=sr, n_mels=64)


def views(policy: str, n_views: int = 4) -> torch.Tensor:
    """Log-mel spectrograms (n_views, n_mels, n_frames) of augmented copies of ``clip``."""
    waveform_augs, spectrogram_augs = split_by_domain(make_policy(policy))
    generator = torch.Generator().manual_seed(0)
    batch = torch.from_numpy(clip).repeat(n_views, 1)
    for augmentation in waveform_augs:
        batch = augmentation(batch, generator)
    mel = frontend(batch)
    for augmentation in spectrogram_augs:
        mel = augmentation(mel, generator)
    return mel


# %%
# The original and four views per policy
# --------------------------------------
policies = ["waveform", "spectrogram"]
fig, axes = plt.subplots(len(policies), 5, figsize=(12, 4.5), sharex=True, sharey=True)
original = frontend(torch.from_numpy(clip)[None])[0]
low, high = float(original.min()), float(original.max())  # one colour scale for all
for row, policy in enumerate(policies):
    images = [original, *views(policy)]
    for column, image in enumerate(images):
        ax = axes[row, column]
        ax.imshow(image.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high)
        ax.set_title("original" if column == 0 else f"{policy} view {column}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
fig.supylabel("mel band")
fig.supxlabel("time (frames of 10 ms)")
fig.tight_layout()

# %%
# The policies are lists of small dataclasses: they print their parameters, and
# a custom list can be passed as ``augmentations=`` to the estimator (and
# grid-searched).
for augmentation in make_policy("spectrogram"):
    print(augmentation)
