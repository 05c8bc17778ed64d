"""Grid search over the temperature and batch size of ContrastiveAudioEmbedder.

The embedder is one step of a pipeline, so ``GridSearchCV`` pretrains it anew for every
parameter setting and fold, on the training speakers only (``GroupKFold`` on speaker).
To finish in a few minutes on a CPU the search uses 600 of the 3000 spoken digits and
2 pretraining epochs: it shows the mechanics, not tuned values.

Run: ``python examples/grid_search_contrastive.py``
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skaudio import ContrastiveAudioEmbedder
from skaudio.datasets import load_spoken_digits

digits = load_spoken_digits()
subset = np.random.default_rng(0).permutation(len(digits.data))[:600]
X = [digits.data[i] for i in subset]
y, groups = digits.target[subset], digits.groups[subset]

pipe = make_pipeline(
    ContrastiveAudioEmbedder(
        sample_rate=digits.sample_rate,
        segment_seconds=0.5,
        augmentations="spectrogram",
        max_epochs=2,
        random_state=0,
    ),
    StandardScaler(),
    LogisticRegression(max_iter=2000),
)
grid = {
    "contrastiveaudioembedder__temperature": [0.1, 0.5, 1.0],
    "contrastiveaudioembedder__batch_size": [32, 64],
}
search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=3), refit=True)
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
