"""Similarity of every anchor to every candidate: the logits of contrastive objectives.

Pure functions of tensors, used by the similarity heads of :mod:`skaudio.heads`
(inside the models) and by the losses of :mod:`skaudio.losses` (which re-exports
them); computed in float32 whatever the inputs' dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._torch_utils import fp32_island

__all__ = ["bilinear_logits", "cosine_logits"]


@fp32_island
def bilinear_logits(
    anchors: torch.Tensor, positives: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    r"""Bilinear similarity between every anchor and every positive.

    The score of an anchor :math:`a` and a positive :math:`p` is

    .. math::

        s(a, p) = a^\top W p,

    the learned similarity of COLA (Saeed, Grangier & Zeghidour, 2021).

    Parameters
    ----------
    anchors : Tensor of shape (..., n, dim)
        Anchor embeddings.
    positives : Tensor of shape (..., m, dim)
        Candidate embeddings. Leading (batch) dimensions, if any, are matched with
        those of ``anchors``.
    weight : Tensor of shape (dim, dim)
        The bilinear matrix :math:`W`.

    Returns
    -------
    logits : Tensor of shape (..., n, m)
        ``logits[..., i, j]`` is the similarity of anchor ``i`` and positive ``j``.

    See Also
    --------
    cosine_logits : Cosine similarity over a temperature instead.

    Examples
    --------
    >>> import torch
    >>> from skaudio.similarity import bilinear_logits
    >>> _ = torch.manual_seed(0)
    >>> anchors, positives = torch.randn(3, 4), torch.randn(5, 4)
    >>> logits = bilinear_logits(anchors, positives, torch.eye(4))  # W = I: dot products
    >>> logits.shape, torch.allclose(logits, anchors @ positives.T)
    (torch.Size([3, 5]), True)
    """
    return anchors @ weight @ positives.transpose(-1, -2)


@fp32_island
def cosine_logits(
    anchors: torch.Tensor, positives: torch.Tensor, temperature: float
) -> torch.Tensor:
    r"""Cosine similarity over a temperature, between every anchor and every positive.

    .. math::

        s(a, p) = \frac{a^\top p}{\tau \, \lVert a \rVert \, \lVert p \rVert},

    with :math:`\tau` the ``temperature``.

    Parameters
    ----------
    anchors : Tensor of shape (..., n, dim)
        Anchor embeddings.
    positives : Tensor of shape (..., m, dim)
        Candidate embeddings. Leading (batch) dimensions, if any, are matched with
        those of ``anchors``.
    temperature : float
        Positive scale :math:`\tau`; smaller values sharpen the softmax.

    Returns
    -------
    logits : Tensor of shape (..., n, m)
        ``logits[..., i, j]`` is the similarity of anchor ``i`` and positive ``j``,
        between ``-1 / temperature`` and ``1 / temperature``.

    See Also
    --------
    bilinear_logits : Learned bilinear similarity instead.

    Examples
    --------
    >>> import torch
    >>> from skaudio.similarity import cosine_logits
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(3, 4)
    >>> logits = cosine_logits(x, x, temperature=0.5)
    >>> logits.shape, round(float(logits[0, 0]), 3)  # a vector against itself: 1 / 0.5
    (torch.Size([3, 3]), 2.0)
    """
    normalised = F.normalize(positives, dim=-1).transpose(-1, -2)
    return F.normalize(anchors, dim=-1) @ normalised / temperature
