"""Criteria gather the batches of all processes when ``gather_distributed`` says so.

Every method gathers in its criterion (lightly's ``gather_distributed=``), never in its
model. Two processes are stood in for by patching the criteria's gathers: they return
the global batch for this process's shard, as the collectives of a real run do
(``tests/test_distributed.py`` runs real processes).
"""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

import skaudio.distributed as distributed
from skaudio.encoders import CNNEncoder
from skaudio.features import LogMelSpectrogram
from skaudio.heads import BilinearSimilarity
from skaudio.layers import GlobalBatchNorm2d
from skaudio.losses import (
    BYOLCriterion,
    COLACriterion,
    NTXentCriterion,
    _cola,
    _nt_xent,
    _supervised,
    contrastive_cross_entropy,
    nt_xent_loss,
)
from skaudio.models import COLAModel, COLAOutput


def _stand_in_for_two_processes(monkeypatch, modules, pairs):
    """Patch the gathers of ``modules``: a local shard -> its global batch."""
    table = {id(local): full for local, full in pairs}

    def fake_gather(tensor):
        return table.get(id(tensor), tensor)

    for module in modules:
        for name in ("gather", "gather_with_grad"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, fake_gather)
        if hasattr(module, "is_distributed"):
            monkeypatch.setattr(module, "is_distributed", lambda: True)


def _projections(n=8, dim=4):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g)


def test_cola_gathers_in_the_criterion(monkeypatch):
    anchors, positives = _projections()
    similarity = BilinearSimilarity(4)
    with torch.no_grad():
        similarity.weight.add_(0.3 * torch.randn(4, 4, generator=torch.Generator().manual_seed(1)))
    local_a, local_p = anchors[:4], positives[:4]  # this process's shard
    local = COLAOutput(
        similarity(local_a, local_p), anchors=local_a, positives=local_p, similarity=similarity
    )
    global_loss = contrastive_cross_entropy(similarity(anchors, positives))
    local_loss = contrastive_cross_entropy(local.clip_logits)
    _stand_in_for_two_processes(monkeypatch, [_cola], [(local_a, anchors), (local_p, positives)])

    gathering = COLACriterion()
    assert gathering.gather_distributed  # the default: gathers, as before the flag
    loss = gathering(local)
    torch.testing.assert_close(loss, global_loss, rtol=0, atol=0)
    assert gathering.clip_logits(local).shape == (8, 8)
    assert (
        gathering.metrics(local)["pretext_acc"]
        == gathering.metrics(
            local._replace(clip_logits=similarity(anchors, positives), anchors=None)
        )["pretext_acc"]
    )
    (grad,) = torch.autograd.grad(loss, similarity.weight)  # through the model's similarity
    assert grad.abs().sum() > 0

    local_only = COLACriterion(gather_distributed=False)
    torch.testing.assert_close(local_only(local), local_loss, rtol=0, atol=0)
    assert not torch.isclose(local_loss, global_loss)
    # logits built by hand (no projections) are used as they are
    plain = COLAOutput(local.clip_logits)
    torch.testing.assert_close(gathering(plain), local_loss, rtol=0, atol=0)


def test_simclr_gathers_in_the_criterion(monkeypatch):
    z1, z2 = _projections()
    local1, local2 = z1[:4], z2[:4]  # this process's shard
    criterion = NTXentCriterion(temperature=0.5)
    _stand_in_for_two_processes(monkeypatch, [_nt_xent], [(local1, z1), (local2, z2)])
    torch.testing.assert_close(
        criterion((local1, local2, None), None), nt_xent_loss(z1, z2, 0.5), rtol=0, atol=0
    )
    assert criterion.metrics((local1, local2, None)) == criterion.metrics((z1, z2, None))
    local_only = NTXentCriterion(temperature=0.5, gather_distributed=False)
    torch.testing.assert_close(
        local_only((local1, local2, None), None), nt_xent_loss(local1, local2, 0.5), rtol=0, atol=0
    )


@pytest.mark.parametrize("gather_distributed", [True, False])
def test_the_supervised_term_is_over_the_global_batch_when_gathering(
    monkeypatch, gather_distributed
):
    g = torch.Generator().manual_seed(2)
    local_logits, other_logits = torch.randn(2, 8, 3, generator=g)  # [view 1; view 2] each
    local_target, other_labels = torch.tensor([0, -1, 2, -1]), torch.tensor([1, 1, -1, 0] * 2)
    # the other process's rows, appended as the collectives of a rank-0 process would
    monkeypatch.setattr(_supervised, "gather_with_grad", lambda t: torch.cat([t, other_logits]))
    monkeypatch.setattr(_supervised, "gather", lambda t: torch.cat([t, other_labels]))
    loss = _supervised._add_supervised(
        torch.tensor(0.0), local_logits, local_target, 1.0, gather_distributed
    )
    logits, labels = local_logits, torch.cat([local_target, local_target])
    if gather_distributed:
        logits, labels = torch.cat([logits, other_logits]), torch.cat([labels, other_labels])
    expected = nn.functional.cross_entropy(logits[labels >= 0], labels[labels >= 0])
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=0)


def test_the_cola_model_gathers_nothing():
    torch.manual_seed(0)
    encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    model = COLAModel(LogMelSpectrogram(8000, n_mels=16), encoder, 8, BilinearSimilarity(8))
    output = model(torch.randn(4, 2000), torch.randn(4, 2000))
    assert output.anchors.shape == output.positives.shape == (4, 8)
    assert output.similarity is model.similarity
    expected = model.similarity(output.anchors, output.positives)
    torch.testing.assert_close(output.clip_logits, expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    "criterion",
    [COLACriterion(), NTXentCriterion(0.5), BYOLCriterion()],
    ids=lambda c: type(c).__name__,
)
def test_criteria_pickled_before_the_flag_still_gather(criterion):
    criterion.gather_distributed = False
    del criterion.gather_distributed  # what an old pickle's __dict__ lacks
    restored = pickle.loads(pickle.dumps(criterion))
    assert "gather_distributed" not in vars(restored) and restored.gather_distributed is True


def test_batch_norms_pickled_under_skaudio_distributed_still_load():
    """Models saved before ``skaudio.layers`` refer to ``skaudio.distributed.GlobalBatchNorm2d``."""
    norm = GlobalBatchNorm2d(3).eval()
    old = pickle.dumps(norm, protocol=2).replace(b"skaudio.layers\n", b"skaudio.distributed\n")
    assert b"skaudio.distributed\nGlobalBatchNorm2d" in old
    restored = pickle.loads(old)
    assert type(restored) is GlobalBatchNorm2d
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(restored(x), norm(x), rtol=0, atol=0)


def test_the_accelerate_net_is_a_plain_top_level_class():
    cls = distributed.DistributedSelfSupervisedNet
    assert (cls.__module__, cls.__qualname__) == ("skaudio.distributed", cls.__name__)
    assert pickle.loads(pickle.dumps(cls)) is cls  # found by its name, as pickles find it
    assert "__getattr__" not in vars(distributed)
