"""
Contrastive predictive coding: predicting the future of a clip
==============================================================

:class:`~skaudio.CPCEmbedder` (van den Oord et al., 2018) encodes audio into a
sequence ``z_t``, summarises the past in a context ``c_t`` (a GRU here), and learns
to pick the true ``z_{t+k}`` among negatives from ``c_t`` with a linear predictor per
step ``k`` (InfoNCE). The further ahead, the harder: the per-step accuracy logged in
``history_`` falls with ``k``. The clip embedding is the mean of ``c_t``.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skaudio import CPCEmbedder
from skaudio.datasets import load_spoken_digits

digits = load_spoken_digits()
subset = np.random.default_rng(0).choice(len(digits.data), 600, replace=False)
X = [digits.data[i] for i in subset]
y, speakers = digits.target[subset], digits.groups[subset]
train, test = next(GroupShuffleSplit(test_size=2, random_state=0).split(X, y, speakers))
X_train, X_test = [X[i] for i in train], [X[i] for i in test]

# %%
# A small raw-waveform CPC: 0.32 s training crops (16 steps of 20 ms at 8 kHz), 4 steps ahead
cpc = CPCEmbedder(
    sample_rate=digits.sample_rate,
    segment_seconds=0.32,
    encoder_width=64,
    z_dim=128,
    c_dim=128,
    n_predict=4,
    batch_size=64,
    lr=1e-3,
    max_epochs=3,
    random_state=0,
).fit(X_train)

# %%
# Prediction accuracy per step ahead, last epoch
steps = range(1, cpc.n_predict_ + 1)
accuracy = [cpc.history_[-1, f"train_step{k}_acc"] for k in steps]
print("accuracy per step ahead:", [round(float(a), 2) for a in accuracy])
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(list(steps), accuracy, marker="o")
ax.set(xlabel="steps ahead k", ylabel="InfoNCE accuracy", title="CPC: the further, the harder")
fig.tight_layout()

# %%
# Probe the clip embeddings on the held-out speakers, next to the untrained encoder.
# The true future competes with the same step of the other 63 clips of the batch, so
# chance is 1/64 and the accuracies above show the predictor learnt something. Three
# epochs on 400 clips do not yet teach digits: expect both probes near each other.
# The benchmarks (``benchmarks/cpc.py``) train longer on all speakers.
untrained = CPCEmbedder(**{**cpc.get_params(), "max_epochs": 0}).fit(X_train)
for name, embedder in {"CPC, 3 epochs": cpc, "untrained": untrained}.items():
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probe.fit(embedder.transform(X_train), y[train])
    print(f"{name:<14} accuracy {probe.score(embedder.transform(X_test), y[test]):.3f}")
