import math

import pytest
import torch

from skaudio.heads import BilinearSimilarity, CosineSimilarity, ProjectionHead
from skaudio.losses import (
    bilinear_logits,
    cola_loss,
    contrastive_accuracy,
    contrastive_cross_entropy,
    cosine_logits,
    nt_xent_loss,
)


def _reference_cola_loss(anchors, positives, weight=None, temperature=0.1):
    """Straightforward loop: -log softmax of the positive among all positives of the batch."""
    n = anchors.shape[0]
    total = 0.0
    for i in range(n):
        scores = []
        for j in range(n):
            a, p = anchors[i].double(), positives[j].double()
            if weight is None:
                s = torch.dot(a, p) / (a.norm() * p.norm()) / temperature
            else:
                s = a @ weight.double() @ p
            scores.append(float(s))
        log_denominator = math.log(sum(math.exp(s) for s in scores))
        total += log_denominator - scores[i]
    return total / n


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(6, 5, generator=g),
        torch.randn(6, 5, generator=g),
        torch.randn(5, 5, generator=g),
    )


def test_bilinear_loss_matches_reference(batch):
    a, p, w = batch
    assert cola_loss(a, p, weight=w).item() == pytest.approx(
        _reference_cola_loss(a, p, w), rel=1e-5
    )


@pytest.mark.parametrize("temperature", [0.05, 0.2, 1.0])
def test_cosine_loss_matches_reference(batch, temperature):
    a, p, _ = batch
    expected = _reference_cola_loss(a, p, temperature=temperature)
    assert cola_loss(a, p, temperature=temperature).item() == pytest.approx(expected, rel=1e-5)


def test_logit_shapes_and_identity_bilinear_is_dot_product(batch):
    a, p, _ = batch
    torch.testing.assert_close(bilinear_logits(a, p[:4], torch.eye(5)), a @ p[:4].T)
    assert cosine_logits(a, p[:4], 0.5).shape == (6, 4)


def test_loss_is_invariant_to_permuting_the_batch(batch):
    a, p, w = batch
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(cola_loss(a[perm], p[perm], weight=w), cola_loss(a, p, weight=w))


def test_cosine_loss_is_scale_invariant(batch):
    a, p, _ = batch
    torch.testing.assert_close(cola_loss(3 * a, 0.5 * p), cola_loss(a, p))


def test_perfect_pairs_give_low_loss_and_full_accuracy():
    a = torch.eye(4) * 10
    logits = bilinear_logits(a, a, torch.eye(4))
    assert contrastive_cross_entropy(logits).item() < 1e-3
    assert contrastive_accuracy(logits).item() == 1.0
    assert contrastive_accuracy(bilinear_logits(a, a.flip(0), torch.eye(4))).item() == 0.0


def test_uninformative_logits_give_log_n():
    assert contrastive_cross_entropy(torch.zeros(8, 8)).item() == pytest.approx(math.log(8))


@pytest.mark.parametrize("similarity", ["bilinear", "cosine"])
def test_loss_decreases_when_optimised(similarity):
    torch.manual_seed(0)
    x = torch.randn(32, 16)
    anchors_in, positives_in = x + 0.3 * torch.randn(32, 16), x + 0.3 * torch.randn(32, 16)
    head = ProjectionHead(16, 8)
    sim = BilinearSimilarity(8) if similarity == "bilinear" else CosineSimilarity(0.2)
    optimizer = torch.optim.Adam([*head.parameters(), *sim.parameters()], lr=1e-2)
    losses = []
    for _ in range(50):
        loss = contrastive_cross_entropy(sim(head(anchors_in), head(positives_in)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_projection_head_output_is_bounded():
    out = ProjectionHead(10, 4)(100 * torch.randn(3, 10))
    assert out.shape == (3, 4) and out.abs().max() <= 1


def _reference_nt_xent(z1, z2, temperature):
    """Loop over the 2n views as in SimCLR's Algorithm 1."""
    z = [v.double() / v.double().norm() for v in [*z1, *z2]]
    n2 = len(z)
    n = n2 // 2

    def sim(i, j):
        return float(torch.dot(z[i], z[j])) / temperature

    total = 0.0
    for i in range(n2):
        positive = (i + n) % n2
        denominator = sum(math.exp(sim(i, k)) for k in range(n2) if k != i)
        total += -math.log(math.exp(sim(i, positive)) / denominator)
    return total / n2


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_reference_loop(batch, temperature):
    z1, z2, _ = batch
    expected = _reference_nt_xent(z1, z2, temperature)
    assert nt_xent_loss(z1, z2, temperature).item() == pytest.approx(expected, rel=1e-5)


def test_nt_xent_is_symmetric_in_its_views_and_permutation_invariant(batch):
    z1, z2, _ = batch
    torch.testing.assert_close(nt_xent_loss(z1, z2), nt_xent_loss(z2, z1))
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(nt_xent_loss(z1[perm], z2[perm]), nt_xent_loss(z1, z2))


def test_nt_xent_of_identical_orthogonal_views_is_near_zero():
    z = torch.eye(4)
    assert nt_xent_loss(z, z, temperature=0.05).item() < 1e-6
