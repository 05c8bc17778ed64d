"""
Frame-level embeddings: where in a clip something happens
=========================================================

Every embedder also returns one embedding per encoder frame with
:meth:`~skaudio.COLAEmbedder.transform_frames`, each with its time stamp (the centre
of the audio it sees). Clip embeddings say *what* is in a clip; frames say *when*.

We join two spoken digits with a pause between them, embed the frames with a COLA
model trained with the frame-level loss of the multi-strategy extension
(``frame_weight=1``), and compare every frame with the mean frame of each digit.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from skaudio import COLAEmbedder
from skaudio.datasets import load_spoken_digits

digits = load_spoken_digits()
sr = digits.sample_rate
subset = np.random.default_rng(0).choice(len(digits.data), 400, replace=False)
X = [digits.data[i] for i in subset]
model = COLAEmbedder(
    sample_rate=sr,
    segment_seconds=0.5,
    frame_weight=1.0,
    batch_size=64,
    max_epochs=2,
    random_state=0,
).fit(X)

# %%
# Two different digits of one speaker, separated by 0.3 s of silence
three = np.flatnonzero((digits.target == 3) & (digits.groups == "jackson"))[0]
eight = np.flatnonzero((digits.target == 8) & (digits.groups == "jackson"))[0]
first, second = digits.data[three], digits.data[eight]
clip = np.concatenate([first, np.zeros(int(0.3 * sr), np.float32), second])
(frames,), (times,) = model.transform_frames([clip])
print(f"{len(frames)} frames of size {frames.shape[1]}, one every {times[1] - times[0]:.2f} s")

# %%
# Cosine similarity of each frame to the mean frame of each digit
boundary = len(first) / sr
unit = frames / np.linalg.norm(frames, axis=1, keepdims=True)
mean_first = unit[times < boundary].mean(0)
mean_second = unit[times > boundary + 0.3].mean(0)
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(times, unit @ mean_first, marker="o", label="like the 3")
ax.plot(times, unit @ mean_second, marker="o", label="like the 8")
ax.axvspan(boundary, boundary + 0.3, color="grey", alpha=0.2, label="silence")
ax.set(xlabel="time (s)", ylabel="cosine similarity", title="frame embeddings over time")
ax.legend()
fig.tight_layout()
