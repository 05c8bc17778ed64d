"""Published recipes as ready-made estimators: parameter presets, not subclasses."""

from __future__ import annotations

from .contrastive import ContrastiveAudioEmbedder

__all__ = ["make_byol_a"]

#: BYOL-A's recipe (Niizumi et al., 2021) on :class:`ContrastiveAudioEmbedder`
_BYOL_A = dict(
    objective="byol",
    augmentations="byol-a",
    input_normalization="dataset",
    readout_bands=4,
    projection_dim=256,
    byol_momentum=0.99,
    lr=3e-4,
)


def make_byol_a(**params) -> ContrastiveAudioEmbedder:
    """A :class:`~skaudio.ContrastiveAudioEmbedder` set to BYOL-A's recipe.

    BYOL for audio (Niizumi et al., 2021) by one name: the BYOL objective
    (``objective="byol"``, target momentum ``byol_momentum=0.99``), BYOL-A's views
    and post-normalisation (``augmentations="byol-a"``), its dataset
    pre-normalisation (``input_normalization="dataset"``), a frequency-keeping
    readout (``readout_bands=4``, as BYOL-A's encoder keeps frequency bands in its
    embedding) and BYOL-A's learning rate (``lr=3e-4``). The projection head and
    the predictor are 256 wide: BYOL-A's projection is 256-d (from a 4096-wide
    hidden layer, for 2048-d embeddings); this CNN's embeddings are 512-d by
    default, and one width serves both layers here. The rest (64 mel bands, 0.96 s
    segments, batches of 256, 100 epochs) are the estimator's defaults, which
    match BYOL-A's. Any parameter can be overridden.

    The preset returns a plain :class:`~skaudio.ContrastiveAudioEmbedder` (a
    function, not a subclass: see :ref:`architecture-decisions`), so ``clone``,
    ``get_params``, ``GridSearchCV``, pickling and checkpoints work as for any other,
    and its ``repr`` shows the recipe.

    Parameters
    ----------
    **params
        Parameters of :class:`~skaudio.ContrastiveAudioEmbedder`, overriding the
        recipe's (e.g. ``sample_rate``, ``max_epochs``, ``random_state``).

    Returns
    -------
    embedder : ContrastiveAudioEmbedder
        Unfitted.

    Raises
    ------
    TypeError
        If a parameter is not one of the estimator's.

    References
    ----------
    D. Niizumi, D. Takeuchi, Y. Ohishi, N. Harada, K. Kashino. "BYOL for audio:
    self-supervised learning for general-purpose audio representation." IJCNN 2021.

    Examples
    --------
    >>> from skaudio import make_byol_a
    >>> embedder = make_byol_a(max_epochs=10, random_state=0)
    >>> type(embedder).__name__, embedder.objective, embedder.input_normalization
    ('ContrastiveAudioEmbedder', 'byol', 'dataset')
    >>> make_byol_a(readout_bands=1).readout_bands
    1
    """
    return ContrastiveAudioEmbedder(**{**_BYOL_A, **params})
