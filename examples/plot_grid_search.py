"""
Grid search over temperature and batch size
===========================================

The embedder is one step of a pipeline, so ``GridSearchCV`` pretrains it anew for
every parameter setting and fold, on the training speakers only (``GroupKFold`` on
speaker), and ``clone`` gives each fit a fresh, unfitted copy. To finish in about a
minute on a CPU the search uses 300 of the 3000 spoken digits, 0.25 s segments and
one pretraining epoch: it shows the mechanics, not tuned values.
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skaudio import ContrastiveAudioEmbedder
from skaudio.datasets import load_spoken_digits

digits = load_spoken_digits()
subset = np.random.default_rng(0).permutation(len(digits.data))[:300]
X = [digits.data[i] for i in subset]
y, groups = digits.target[subset], digits.groups[subset]

pipe = make_pipeline(
    ContrastiveAudioEmbedder(
        sample_rate=digits.sample_rate,
        segment_seconds=0.25,
        augmentations="spectrogram",
        embedding_dim=128,
        max_epochs=1,
        random_state=0,
    ),
    StandardScaler(),
    LogisticRegression(max_iter=2000),
)
grid = {
    "contrastiveaudioembedder__temperature": [0.1, 1.0],
    "contrastiveaudioembedder__batch_size": [32, 64],
}
search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=3), refit=True)

# %%
# Every setting is scored on held-out speakers; the best is refitted on all clips
start = time.perf_counter()
search.fit(X, y, groups=groups)
print(
    f"searched {len(search.cv_results_['params'])} settings x 3 folds in "
    f"{time.perf_counter() - start:.0f} s"
)
for params, mean, std in zip(
    search.cv_results_["params"],
    search.cv_results_["mean_test_score"],
    search.cv_results_["std_test_score"],
    strict=True,
):
    short = {k.split("__")[1]: v for k, v in params.items()}
    print(f"  {short}: {mean:.3f} +- {std:.3f}")
print("best:", {k.split("__")[1]: v for k, v in search.best_params_.items()})

# %%
# Mean accuracy per setting (fold spread as error bars)
results = search.cv_results_
labels = [
    f"T={p['contrastiveaudioembedder__temperature']}, "
    f"batch={p['contrastiveaudioembedder__batch_size']}"
    for p in results["params"]
]
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.barh(labels, results["mean_test_score"], xerr=results["std_test_score"])
ax.set(xlabel="accuracy on held-out speakers", xlim=(0, 1))
fig.tight_layout()
