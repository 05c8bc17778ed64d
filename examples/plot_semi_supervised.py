"""
Semi-supervised CLAR with 10% of the labels
===========================================

With few labels, :class:`~skaudio.ContrastiveAudioEmbedder` can use them during
pretraining (CLAR, Al-Tahan & Mohsenzadeh, 2021): with ``supervised_weight > 0``,
``fit(X, y)`` adds the cross-entropy of a classifier on the labelled clips to the
contrastive loss; ``y == -1`` marks the unlabelled ones. Here 10% of the training
clips keep their label. We compare, with the same linear probe trained on those
labelled clips only:

- the untrained encoder (``max_epochs=0``),
- self-supervised SimCLR (labels ignored),
- semi-supervised CLAR (labels used in pretraining).

A tiny budget (3 epochs, 600 clips): the numbers show the mechanics; one run on six
speakers is too noisy to rank methods (see the benchmarks for cross-validated ones).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skaudio import ContrastiveAudioEmbedder
from skaudio.datasets import load_spoken_digits

digits = load_spoken_digits()
rng = np.random.default_rng(0)
subset = rng.choice(len(digits.data), 600, replace=False)
X = [digits.data[i] for i in subset]
y, speakers = digits.target[subset], digits.groups[subset]
train, test = next(GroupShuffleSplit(test_size=2, random_state=0).split(X, y, speakers))
X_train, X_test = [X[i] for i in train], [X[i] for i in test]

# %%
# Keep the label of 10% of the training clips; -1 marks the others
y_partial = np.full(len(train), -1)
labelled = rng.choice(len(train), len(train) // 10, replace=False)
y_partial[labelled] = y[train][labelled]
print(f"{len(labelled)} labelled clips out of {len(train)}")

# %%
# Pretrain three embedders, probe each on the labelled clips
common = dict(sample_rate=digits.sample_rate, segment_seconds=0.5, batch_size=64, random_state=0)
embedders = {
    "untrained": ContrastiveAudioEmbedder(**common, max_epochs=0),
    "SimCLR (no labels)": ContrastiveAudioEmbedder(**common, max_epochs=3),
    "CLAR (10% labels)": ContrastiveAudioEmbedder(**common, max_epochs=3, supervised_weight=1.0),
}
scores = {}
for name, embedder in embedders.items():
    embedder.fit(X_train, y_partial)  # SimCLR and the untrained encoder ignore y
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probe.fit(embedder.transform([X_train[i] for i in labelled]), y[train][labelled])
    scores[name] = probe.score(embedder.transform(X_test), y[test])
    print(f"{name:<20} accuracy on held-out speakers {scores[name]:.3f}")

# %%
# CLAR's classifier head learns from the labelled clips while the contrastive term
# shapes the whole embedding space; its classes are kept in ``classes_``.
print("classes seen by CLAR:", embedders["CLAR (10% labels)"].classes_)
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.barh(list(scores), list(scores.values()))
ax.set(xlabel="probe accuracy, 10% labels", xlim=(0, 1))
fig.tight_layout()
