"""Linear-probe evaluation of embedders on grouped splits (nothing leaks across groups)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

__all__ = ["ProbeResult", "cross_validate_probe", "make_probe"]


def make_probe(features=None) -> Pipeline:
    """The linear probe: ``[features ->] StandardScaler -> LogisticRegression``."""
    steps = [] if features is None else [features]
    return make_pipeline(*steps, StandardScaler(), LogisticRegression(max_iter=2000))


@dataclass
class ProbeResult:
    """Scores of one embedder over the folds of a grouped split."""

    scores: np.ndarray
    fit_seconds: list[float] = field(default_factory=list)
    embedders: list = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(self.scores.mean())

    @property
    def std(self) -> float:
        return float(self.scores.std())

    def __str__(self) -> str:
        folds = " ".join(f"{s:.2f}" for s in self.scores)
        return f"{self.mean:.3f} +- {self.std:.3f} (folds {folds})"


def cross_validate_probe(
    embedder,
    X: list,
    y: np.ndarray,
    groups: np.ndarray,
    cv,
    *,
    label_fraction: float | None = None,
    labels_to_embedder: bool = False,
    random_state=0,
) -> ProbeResult:
    """Pretrain on each training fold, probe with a linear classifier, score the test fold.

    Parameters
    ----------
    embedder : estimator
        Any transformer of audio (fitted anew on each training fold).
    X : list of waveforms or paths
    y : ndarray of shape (n_clips,)
    groups : ndarray of shape (n_clips,)
        Group of each clip (speaker, pitch fold, ...): no group spans train and test.
    cv : cross-validation splitter with ``split(X, y, groups)``
    label_fraction : float or None, default=None
        If given, only this share of each training fold keeps its label (chosen at
        random, stratified by class); the probe trains on those clips alone.
    labels_to_embedder : bool, default=False
        Pass the (partial) labels to ``embedder.fit`` as integer class codes, ``-1``
        marking unlabelled clips (semi-supervised embedders). Otherwise the embedder
        sees no labels.
    random_state : int, default=0
        Seeds the choice of labelled clips.

    Returns
    -------
    result : ProbeResult
        Test accuracy per fold, pretraining seconds per fold, fitted embedders.
    """
    rng = check_random_state(random_state)
    y = np.asarray(y)
    result = ProbeResult(scores=np.empty(0))
    scores = []
    for train, test in cv.split(X, y, groups):
        labelled = train
        if label_fraction is not None:
            labelled = np.concatenate(
                [
                    rng.choice(idx, max(1, round(label_fraction * idx.size)), replace=False)
                    for idx in (train[y[train] == c] for c in np.unique(y[train]))
                ]
            )
        fold_embedder = clone(embedder)
        X_train = [X[i] for i in train]
        start = time.perf_counter()
        if labels_to_embedder:
            # integer codes, so that -1 can mark the unlabelled clips whatever y holds
            codes = np.unique(y, return_inverse=True)[1]
            partial = np.where(np.isin(train, labelled), codes[train], -1)
            fold_embedder.fit(X_train, partial)
        else:
            fold_embedder.fit(X_train)
        result.fit_seconds.append(time.perf_counter() - start)
        result.embedders.append(fold_embedder)
        probe = make_probe().fit(fold_embedder.transform([X[i] for i in labelled]), y[labelled])
        scores.append(probe.score(fold_embedder.transform([X[i] for i in test]), y[test]))
    result.scores = np.array(scores)
    return result
