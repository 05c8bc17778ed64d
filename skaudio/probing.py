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
    """The linear probe: ``[features ->] StandardScaler -> LogisticRegression``.

    The classifier that :func:`cross_validate_probe` trains on top of embeddings:
    standardised features and a logistic regression (``max_iter=2000``), optionally
    preceded by a feature extractor so that the probe takes audio directly.

    Parameters
    ----------
    features : transformer or None, default=None
        Optional first step, e.g. an embedder or a baseline such as
        :class:`~skaudio.MFCCStatistics`. ``None`` gives a probe of feature vectors.

    Returns
    -------
    probe : :class:`~sklearn.pipeline.Pipeline`
        An unfitted pipeline.

    Examples
    --------
    >>> from skaudio import MFCCStatistics
    >>> from skaudio.datasets import make_tones
    >>> from skaudio.probing import make_probe
    >>> X, y = make_tones(24, n_classes=2, sample_rate=8000, duration=(0.2, 0.3), random_state=0)
    >>> probe = make_probe(MFCCStatistics(sample_rate=8000))
    >>> [name for name, _ in probe.steps], probe.fit(X[:16], y[:16]).score(X[16:], y[16:])
    (['mfccstatistics', 'standardscaler', 'logisticregression'], 1.0)
    """
    steps = [] if features is None else [features]
    return make_pipeline(*steps, StandardScaler(), LogisticRegression(max_iter=2000))


@dataclass
class ProbeResult:
    """Scores of one embedder over the folds of a grouped split.

    What :func:`cross_validate_probe` returns; ``str(result)`` gives a one-line summary.

    Parameters
    ----------
    scores : ndarray of shape (n_folds,)
        Test accuracy of the linear probe on each fold.
    fit_seconds : list of float, default=[]
        Time taken to fit (pretrain) the embedder on each training fold, in seconds.
    embedders : list of estimator, default=[]
        The embedder fitted on each training fold.
    predictions : ndarray of shape (n_clips,) or None, default=None
        The probe's prediction for every clip, made by the fold that tested it (clips
        in no test fold keep ``y``'s first class and are not scored); for confusion
        matrices.

    Attributes
    ----------
    mean : float
        Mean of ``scores``.
    std : float
        Standard deviation of ``scores``.

    Examples
    --------
    >>> import numpy as np
    >>> from skaudio.probing import ProbeResult
    >>> result = ProbeResult(scores=np.array([0.75, 0.875, 1.0]))
    >>> result.mean, round(result.std, 3)
    (0.875, 0.102)
    >>> print(result)
    0.875 +- 0.102 (folds 0.75 0.88 1.00)
    """

    scores: np.ndarray
    fit_seconds: list[float] = field(default_factory=list)
    embedders: list = field(default_factory=list)
    predictions: np.ndarray | None = None

    @property
    def mean(self) -> float:
        """Mean test accuracy over the folds."""
        return float(self.scores.mean())

    @property
    def std(self) -> float:
        """Standard deviation of the test accuracy over the folds."""
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
    groups_to_embedder: bool = False,
    random_state=0,
) -> ProbeResult:
    """Pretrain on each training fold, probe with a linear classifier, score the test fold.

    For every split of ``cv``, a clone of ``embedder`` is fitted on the training clips
    (without labels unless ``labels_to_embedder``), the linear probe of
    :func:`make_probe` is trained on the embeddings of the (labelled) training clips,
    and its accuracy is measured on the embeddings of the test clips. With a grouped
    splitter such as :class:`~sklearn.model_selection.GroupKFold`, no group (speaker,
    recording, ...) is seen both in pretraining and in testing.

    Parameters
    ----------
    embedder : estimator
        Any transformer of audio (fitted anew on each training fold).
    X : list of waveforms or paths
        The clips, anything that ``embedder`` accepts; indexed by position.
    y : ndarray of shape (n_clips,)
        Class of each clip.
    groups : ndarray of shape (n_clips,)
        Group of each clip (speaker, pitch fold, ...): no group spans train and test.
    cv : cross-validation splitter
        Any object with ``split(X, y, groups)``, e.g.
        :class:`~sklearn.model_selection.GroupKFold`.
    label_fraction : float or None, default=None
        If given, only this share of each training fold keeps its label (chosen at
        random, stratified by class); the probe trains on those clips alone.
    labels_to_embedder : bool, default=False
        Pass the (partial) labels to ``embedder.fit`` as integer class codes, ``-1``
        marking unlabelled clips (semi-supervised embedders). Otherwise the embedder
        sees no labels.
    groups_to_embedder : bool, default=False
        Pass the training clips' ``groups`` to ``embedder.fit`` as ``groups=`` (e.g.
        :class:`~skaudio.CPCEmbedder` with ``negatives="group"``, whose negatives
        come from the clips of the same speaker). The test groups are never seen.
    random_state : int, default=0
        Seeds the choice of labelled clips.

    Returns
    -------
    result : ProbeResult
        Test accuracy per fold, pretraining seconds per fold, fitted embedders, and
        the held-out prediction of every clip.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GroupKFold
    >>> from skaudio import MFCCStatistics
    >>> from skaudio.datasets import make_tones
    >>> from skaudio.probing import cross_validate_probe
    >>> X, y = make_tones(24, n_classes=2, sample_rate=8000, duration=(0.2, 0.3), random_state=0)
    >>> groups = np.arange(24) // 2 % 3  # three groups, each holding both classes
    >>> result = cross_validate_probe(
    ...     MFCCStatistics(sample_rate=8000), X, y, groups, GroupKFold(n_splits=3)
    ... )
    >>> print(result)
    1.000 +- 0.000 (folds 1.00 1.00 1.00)
    """
    rng = check_random_state(random_state)
    y = np.asarray(y)
    result = ProbeResult(scores=np.empty(0), predictions=np.full_like(y, y[0]))
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
        fit_params = {"groups": np.asarray(groups)[train]} if groups_to_embedder else {}
        start = time.perf_counter()
        if labels_to_embedder:
            # integer codes, so that -1 can mark the unlabelled clips whatever y holds
            codes = np.unique(y, return_inverse=True)[1]
            partial = np.where(np.isin(train, labelled), codes[train], -1)
            fold_embedder.fit(X_train, partial, **fit_params)
        else:
            fold_embedder.fit(X_train, **fit_params)
        result.fit_seconds.append(time.perf_counter() - start)
        result.embedders.append(fold_embedder)
        probe = make_probe().fit(fold_embedder.transform([X[i] for i in labelled]), y[labelled])
        result.predictions[test] = probe.predict(fold_embedder.transform([X[i] for i in test]))
        scores.append(np.mean(result.predictions[test] == y[test]))
    result.scores = np.array(scores)
    return result
