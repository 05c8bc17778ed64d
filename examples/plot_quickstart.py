"""
Quick start: an embedder in a scikit-learn pipeline
===================================================

Pretrain a :class:`~skaudio.COLAEmbedder` on spoken digits, put a linear classifier
on its embeddings, and compare with MFCC statistics and with the same encoder left
untrained (``max_epochs=0``), on speakers the models never heard. Then save the
pipeline with joblib and check that the loaded copy embeds identically.

Two epochs on 600 clips only show the mechanics; the benchmarks compare the methods
at larger budgets.
"""

# %%
# Data: 600 spoken digits, two speakers held out
# ----------------------------------------------
# Clips of one speaker must not be in both sets, or the score measures how well the
# model recognises voices rather than digits.
import time

import joblib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skaudio import COLAEmbedder, MFCCStatistics
from skaudio.datasets import load_spoken_digits

digits = load_spoken_digits()
subset = np.random.default_rng(0).choice(len(digits.data), 600, replace=False)
X = [digits.data[i] for i in subset]
y, speakers = digits.target[subset], digits.groups[subset]
train, test = next(GroupShuffleSplit(test_size=2, random_state=0).split(X, y, speakers))
X_train, X_test = [X[i] for i in train], [X[i] for i in test]
print(f"train speakers {sorted(set(speakers[train]))}, test speakers {sorted(set(speakers[test]))}")

# %%
# Three pipelines, one protocol
# -----------------------------
# The embedder is the first step: ``fit`` pretrains it on the training clips (it
# ignores ``y``), then the classifier learns from its embeddings.
sr = digits.sample_rate
cola = dict(sample_rate=sr, segment_seconds=0.5, batch_size=64, random_state=0)
embedders = {
    "MFCC statistics": MFCCStatistics(sample_rate=sr),
    "CNN, untrained": COLAEmbedder(**cola, max_epochs=0),
    "COLA, 2 epochs": COLAEmbedder(**cola, max_epochs=2),
}
scores = {}
for name, embedder in embedders.items():
    pipe = make_pipeline(embedder, StandardScaler(), LogisticRegression(max_iter=1000))
    start = time.perf_counter()
    pipe.fit(X_train, y[train])
    scores[name] = pipe.score(X_test, y[test])
    print(f"{name:<16} accuracy {scores[name]:.3f}  ({time.perf_counter() - start:.0f} s)")

fig, ax = plt.subplots(figsize=(6, 2.5))
ax.barh(list(scores), list(scores.values()))
ax.set(xlabel="accuracy on held-out speakers", xlim=(0, 1))
fig.tight_layout()

# %%
# Save, load, embed identically
# -----------------------------
# The fitted pipeline pickles with joblib; a model trained on a GPU loads on a
# CPU-only machine the same way.
joblib.dump(pipe, "cola_pipeline.joblib")
loaded = joblib.load("cola_pipeline.joblib")
same = np.array_equal(pipe[0].transform(X_test[:8]), loaded[0].transform(X_test[:8]))
print("identical embeddings after loading:", same)
