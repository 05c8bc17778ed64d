import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

from skaudio import MFCCStatistics
from skaudio.probing import cross_validate_probe, make_probe


class _Recorder(MFCCStatistics):
    """MFCC statistics that remember what fit saw."""

    def fit(self, X, y=None):
        self.seen_y_ = None if y is None else np.asarray(y)
        self.seen_n_ = len(X)
        return super().fit(X, y)


def test_probe_scores_every_fold_and_keeps_groups_apart(tones):
    X, y = tones
    groups = np.arange(len(X)) % 4
    result = cross_validate_probe(_Recorder(sample_rate=8000), X, y, groups, GroupKFold(4))
    assert result.scores.shape == (4,) and 0 <= result.mean <= 1
    assert [e.seen_n_ for e in result.embedders] == [36] * 4
    assert all(e.seen_y_ is None for e in result.embedders)  # no labels to the embedder
    assert str(result).startswith(f"{result.mean:.3f} +- ")
    # every clip is predicted by the fold that held it out; the fold scores agree
    assert result.predictions.shape == y.shape and set(result.predictions) <= set(y)
    for score, (_, test) in zip(result.scores, GroupKFold(4).split(X, y, groups), strict=True):
        assert score == np.mean(result.predictions[test] == y[test])


def test_label_fraction_and_labels_to_embedder(tones):
    X, y = tones
    groups = (np.arange(len(X)) // 4) % 2  # every group holds every class
    result = cross_validate_probe(
        _Recorder(sample_rate=8000),
        X,
        y,
        groups,
        GroupKFold(2),
        label_fraction=0.25,
        labels_to_embedder=True,
    )
    for embedder in result.embedders:
        seen = embedder.seen_y_
        labelled = seen != -1
        assert labelled.sum() == pytest.approx(0.25 * len(seen), abs=len(np.unique(y)))
        assert set(np.unique(seen[labelled])) == set(np.unique(y))  # stratified: all classes


def test_make_probe_with_and_without_features():
    assert [name for name, _ in make_probe().steps] == ["standardscaler", "logisticregression"]
    assert make_probe(MFCCStatistics()).steps[0][0] == "mfccstatistics"


def test_string_labels_reach_the_embedder_as_codes(tones):
    X, y = tones
    names = np.array(["low", "mid", "high", "top"])[y]
    groups = (np.arange(len(X)) // 4) % 2
    result = cross_validate_probe(
        _Recorder(sample_rate=8000),
        X,
        names,
        groups,
        GroupKFold(2),
        label_fraction=0.5,
        labels_to_embedder=True,
    )
    seen = result.embedders[0].seen_y_
    assert seen.dtype.kind == "i" and set(np.unique(seen)) == {-1, 0, 1, 2, 3}
