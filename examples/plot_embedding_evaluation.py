"""
Judging embeddings: t-SNE, confusion matrix and training curves
===============================================================

:mod:`skaudio.plotting` draws the three pictures used to judge a representation:

- :func:`~skaudio.plotting.plot_embedding`: a t-SNE map of the embeddings coloured by
  class (what clusters, what mixes);
- :func:`~skaudio.plotting.plot_confusion_matrix`: which classes a linear probe
  confuses;
- :func:`~skaudio.plotting.plot_training_curves`: the pretraining loss and pretext
  accuracy per epoch.

Always read them next to a baseline: here the same encoder left untrained.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from skaudio import ContrastiveAudioEmbedder
from skaudio.datasets import load_spoken_digits
from skaudio.plotting import plot_confusion_matrix, plot_embedding, plot_training_curves
from skaudio.probing import make_probe

digits = load_spoken_digits()
subset = np.random.default_rng(0).choice(len(digits.data), 600, replace=False)
X = [digits.data[i] for i in subset]
y, speakers = digits.target[subset], digits.groups[subset]
train, test = next(GroupShuffleSplit(test_size=2, random_state=0).split(X, y, speakers))
X_train, X_test = [X[i] for i in train], [X[i] for i in test]

common = dict(sample_rate=digits.sample_rate, segment_seconds=0.5, batch_size=64, random_state=0)
models = {
    "untrained": ContrastiveAudioEmbedder(**common, max_epochs=0).fit(X_train),
    "SimCLR, 4 epochs": ContrastiveAudioEmbedder(**common, max_epochs=4).fit(X_train),
}

# %%
# t-SNE of the held-out speakers' embeddings, and the probe's confusions
fig, axes = plt.subplots(2, 2, figsize=(10, 9))
for column, (name, embedder) in enumerate(models.items()):
    Z_test = embedder.transform(X_test)
    probe = make_probe().fit(embedder.transform(X_train), y[train])
    plot_embedding(Z_test, y[test], ax=axes[0, column], title=f"t-SNE: {name}")
    plot_confusion_matrix(y[test], probe.predict(Z_test), ax=axes[1, column])
    axes[1, column].set_title(f"{name}: {axes[1, column].get_title()}")
fig.tight_layout()

# %%
# Pretraining curves: the loss falls and the pretext task (finding the other view of
# each clip among the batch) gets easier
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
plot_training_curves(models["SimCLR, 4 epochs"], ax=left)
plot_training_curves(models["SimCLR, 4 epochs"], metric="train_pretext_acc", ax=right)
fig.tight_layout()
