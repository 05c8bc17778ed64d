"""The plotting helpers draw what they say, and refuse what they cannot draw."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import SMALL

from skaudio import COLAEmbedder
from skaudio.plotting import plot_confusion_matrix, plot_embedding, plot_training_curves


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_embedding_map_separates_separable_classes():
    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(0, 1, (30, 6)), rng.normal(8, 1, (30, 6))])
    labels = np.repeat(["low", "high"], 30)
    ax = plot_embedding(Z, labels, random_state=0)
    low, high = (c.get_offsets() for c in ax.collections)
    assert len(low) == len(high) == 30
    # each class's points lie nearer their own centroid than the other's
    gap = np.linalg.norm(low.mean(0) - high.mean(0))
    assert gap > 2 * max(np.asarray(low).std(0).max(), np.asarray(high).std(0).max())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["high", "low"]


def test_embedding_map_checks_its_input():
    with pytest.raises(ValueError, match="inconsistent|samples"):
        plot_embedding(np.zeros((5, 3)), [0, 1])
    with pytest.raises(ValueError, match="at least 3"):
        plot_embedding(np.zeros((2, 3)), [0, 1])


def test_confusion_matrix_rows_are_recall():
    ax = plt.figure().add_subplot()
    returned = plot_confusion_matrix([0, 0, 0, 1], [0, 0, 1, 1], ax=ax)
    assert returned is ax
    image = ax.images[0].get_array()
    np.testing.assert_allclose(image, [[2 / 3, 1 / 3], [0, 1]])
    assert ax.get_title() == "accuracy 0.750"
    counts = plot_confusion_matrix([0, 0, 0, 1], [0, 0, 1, 1], normalize=None)
    np.testing.assert_array_equal(counts.images[0].get_array(), [[2, 1], [0, 1]])


def test_training_curves_of_fitted_embedders(tones):
    X, _ = tones
    a = COLAEmbedder(**{**SMALL, "max_epochs": 2}).fit(X)
    b = COLAEmbedder(**{**SMALL, "max_epochs": 3}).fit(X)
    ax = plot_training_curves({"two": a, "three": b}, metric="train_pretext_acc")
    lines = ax.get_lines()
    assert [len(line.get_xdata()) for line in lines] == [2, 3]
    np.testing.assert_allclose(lines[1].get_ydata(), b.history_[:, "train_pretext_acc"])
    single = plot_training_curves(a)
    assert single.get_legend() is None and single.get_ylabel() == "train_loss"
    with pytest.raises(ValueError, match="not in the history.*train_loss"):
        plot_training_curves(a, metric="valid_loss")
    with pytest.raises(ValueError, match="no training epoch"):
        plot_training_curves(COLAEmbedder(**{**SMALL, "max_epochs": 0}).fit(X))


def test_many_classes_keep_distinct_colours_and_readable_cells():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(14), 4)
    ax = plot_embedding(rng.normal(size=(56, 5)), labels)
    colours = {tuple(c.get_facecolor()[0]) for c in ax.collections}
    assert len(colours) == 14
    matrix = plot_confusion_matrix(labels, rng.permutation(labels))
    assert not matrix.texts  # 14x14 numbers would overlap: colours only
    small = plot_confusion_matrix([0, 1, 1], [0, 1, 0])
    assert len(small.texts) == 4
