"""Plots for judging embeddings: a 2-D map by class, the probe's confusions, training curves.

Needs matplotlib (``pip install "skaudio[plots]"``). Every function draws on the
``ax`` it is given (or on a new figure's) and returns it, so plots compose into the
user's own figures.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.manifold import TSNE
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_array, check_consistent_length

__all__ = ["plot_confusion_matrix", "plot_embedding", "plot_training_curves"]


def _axes(ax):
    """``ax``, or the axes of a new figure; a clear error without matplotlib."""
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            'skaudio.plotting needs matplotlib: pip install "skaudio[plots]"'
        ) from error
    return plt.figure().add_subplot()


def plot_embedding(
    embeddings,
    labels,
    *,
    perplexity: float = 30.0,
    random_state=0,
    ax=None,
    title: str | None = None,
):
    """Scatter a t-SNE map of the embeddings, one colour per class.

    The embeddings are standardised per feature (as the linear probe sees them), then
    mapped to 2-D by :class:`sklearn.manifold.TSNE`. Classes that form separate
    clusters are easy for a probe; a map shows *what* mixes, not how well a linear
    probe would do, so read it next to the probe's score.

    Parameters
    ----------
    embeddings : array-like of shape (n_clips, n_features)
        E.g. ``embedder.transform(X)``.
    labels : array-like of shape (n_clips,)
        Class of each clip (any hashable values), one colour each.
    perplexity : float, default=30.0
        t-SNE's perplexity, capped below the number of clips.
    random_state : int, RandomState instance or None, default=0
        Seeds t-SNE.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.
    title : str, default=None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Z = np.concatenate([rng.normal(0, 1, (20, 8)), rng.normal(5, 1, (20, 8))])
    >>> ax = plot_embedding(Z, ["a"] * 20 + ["b"] * 20)
    >>> len(ax.collections), ax.get_legend() is not None
    (2, True)
    """
    embeddings = check_array(embeddings, dtype=np.float64)
    labels = np.asarray(labels)
    check_consistent_length(embeddings, labels)
    if len(embeddings) < 3:
        raise ValueError(f"a t-SNE map needs at least 3 clips, got {len(embeddings)}")
    points = TSNE(
        n_components=2,
        perplexity=min(perplexity, len(embeddings) - 1),
        init="pca",
        random_state=random_state,
    ).fit_transform(StandardScaler().fit_transform(embeddings))
    ax = _axes(ax)
    classes = np.unique(labels)
    # one distinct colour per class: matplotlib's default cycle repeats after 10
    import matplotlib

    palette = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    for index, label in enumerate(classes):
        colour = palette(index % palette.N) if len(classes) <= 20 else None
        ax.scatter(*points[labels == label].T, s=8, color=colour, label=str(label))
    ax.legend(markerscale=2, fontsize="small", loc="best", ncols=1 + len(classes) // 8)
    ax.set(xticks=[], yticks=[], title=title or "t-SNE of the embeddings")
    return ax


def plot_confusion_matrix(
    y_true,
    y_pred,
    *,
    normalize: str | None = "true",
    ax=None,
    title: str | None = None,
):
    """Draw the probe's confusion matrix (rows: true class; by default each row sums to 1).

    Cells show their values up to 10 classes; beyond, only their colour.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_clips,)
        True and predicted classes, e.g. of a probe on held-out speakers.
    normalize : {"true", "pred", "all"} or None, default="true"
        As :func:`sklearn.metrics.confusion_matrix`: "true" shows per-class recall.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.
    title : str, default=None
        Defaults to the accuracy.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> ax = plot_confusion_matrix(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    >>> ax.get_title()
    'accuracy 0.750'
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    check_consistent_length(y_true, y_pred)
    ax = _axes(ax)
    n_classes = len(np.union1d(y_true, y_pred))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        normalize=normalize,
        ax=ax,
        colorbar=False,
        include_values=n_classes <= 10,  # beyond, the numbers overlap: the colours remain
        values_format=".2f" if normalize else "d",
        xticks_rotation="vertical" if n_classes > 10 else "horizontal",
        cmap="Blues",
    )
    ax.set_title(title or f"accuracy {np.mean(y_true == y_pred):.3f}")
    return ax


def plot_training_curves(
    histories,
    *,
    metric: str = "train_loss",
    ax=None,
    title: str | None = None,
):
    """Plot a pretraining metric per epoch, for one embedder or several side by side.

    Parameters
    ----------
    histories : fitted embedder, skorch History, or mapping of name to either
        Where the curves come from (an embedder's ``history_``).
    metric : str, default="train_loss"
        Key of the history to plot, e.g. ``"train_pretext_acc"`` (the pretext task's
        accuracy) or a method's own metric (``"train_frame_acc"``, ``"train_step1_acc"``).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.
    title : str, default=None

    Returns
    -------
    ax : matplotlib Axes

    Raises
    ------
    ValueError
        If a history has no epoch or does not log ``metric``.

    Examples
    --------
    >>> from skorch.history import History
    >>> history = History()
    >>> for loss in (2.0, 1.5, 1.2):
    ...     history.new_epoch()
    ...     history.record("train_loss", loss)
    >>> ax = plot_training_curves({"COLA": history})
    >>> ax.get_lines()[0].get_ydata().tolist()
    [2.0, 1.5, 1.2]
    """
    if not isinstance(histories, Mapping):
        histories = {None: histories}
    ax = _axes(ax)
    for name, history in histories.items():
        history = getattr(history, "history_", history)
        if len(history) == 0:
            raise ValueError(f"{name or 'the model'} has no training epoch to plot")
        if metric not in history[-1]:
            logged = sorted(k for k in history[-1] if k not in {"epoch", "batches"})
            raise ValueError(f"{metric!r} is not in the history; it logs {logged}")
        values = history[:, metric]
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=name)
    if any(name is not None for name in histories):
        ax.legend()
    ax.set(xlabel="epoch", ylabel=metric, title=title or f"pretraining: {metric}")
    return ax
