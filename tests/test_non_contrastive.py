"""BYOL, Barlow Twins and VICReg losses against straightforward loop references."""

import itertools
import math

import pytest
import torch

from skaudio.losses import (
    barlow_twins_loss,
    byol_loss,
    byol_momentum,
    cross_correlation,
    vicreg_loss,
)


@pytest.fixture
def views():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(12, 5, generator=g, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(12, 5, generator=g, dtype=torch.float64)
    return z1, z2


def _mean(values):
    return sum(values) / len(values)


def _column(z, j):
    return [float(z[b, j]) for b in range(z.shape[0])]


def _variance(values, ddof):
    m = _mean(values)
    return sum((v - m) ** 2 for v in values) / (len(values) - ddof)


def _covariance(a, b, ddof):
    ma, mb = _mean(a), _mean(b)
    return sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True)) / (len(a) - ddof)


def test_byol_loss_matches_a_loop(views):
    q, z = views
    expected = _mean(
        [
            2 - 2 * float(q[i] @ z[i]) / (float(q[i].norm()) * float(z[i].norm()))
            for i in range(q.shape[0])
        ]
    )
    assert float(byol_loss(q, z)) == pytest.approx(expected, rel=1e-5)


def test_byol_loss_sends_no_gradient_to_the_target(views):
    q, z = (v.float().clone().requires_grad_() for v in views)
    byol_loss(q, z).backward()
    assert z.grad is None and q.grad is not None and q.grad.abs().sum() > 0


def test_byol_loss_is_scale_invariant(views):
    q, z = views
    assert float(byol_loss(3 * q, 0.1 * z)) == pytest.approx(float(byol_loss(q, z)), rel=1e-5)


def test_byol_momentum_schedule():
    values = [byol_momentum(k, 10, base=0.9) for k in range(11)]
    assert values[0] == pytest.approx(0.9) and values[-1] == pytest.approx(1.0)
    assert all(a < b for a, b in itertools.pairwise(values))  # rises
    assert values[5] == pytest.approx(1 - 0.1 * (math.cos(math.pi / 2) + 1) / 2)
    assert byol_momentum(20, 10) == 1.0 and byol_momentum(-3, 10) == 0.99
    with pytest.raises(ValueError, match="total_steps"):
        byol_momentum(0, 0)
    with pytest.raises(ValueError, match="base"):
        byol_momentum(0, 10, base=1.5)


def test_cross_correlation_matches_a_loop(views):
    z1, z2 = views
    eps = 1e-5
    c = cross_correlation(z1, z2, eps=eps)
    assert c.dtype == torch.float32
    for i in range(z1.shape[1]):
        for j in range(z2.shape[1]):
            a, b = _column(z1, i), _column(z2, j)
            expected = _covariance(a, b, ddof=0) / math.sqrt(
                (_variance(a, 0) + eps) * (_variance(b, 0) + eps)
            )
            assert float(c[i, j]) == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_barlow_twins_matches_a_loop(views):
    z1, z2 = views
    c = cross_correlation(z1, z2)
    lam = 0.01
    expected = 0.0
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            expected += (1 - float(c[i, i])) ** 2 if i == j else lam * float(c[i, j]) ** 2
    assert float(barlow_twins_loss(z1, z2, off_diagonal_weight=lam)) == pytest.approx(
        expected, rel=1e-5
    )


def test_barlow_twins_is_invariant_to_affine_rescaling(views):
    z1, z2 = views
    assert float(barlow_twins_loss(5 * z1 + 2, z2 - 1)) == pytest.approx(
        float(barlow_twins_loss(z1, z2)), rel=1e-4
    )


def test_vicreg_matches_a_loop(views):
    z1, z2 = views
    n, d = z1.shape
    eps, lam, mu, nu = 1e-4, 25.0, 20.0, 2.0

    def variance_term(z):
        return _mean([max(0.0, 1 - math.sqrt(_variance(_column(z, j), 1) + eps)) for j in range(d)])

    def covariance_term(z):
        total = sum(
            _covariance(_column(z, i), _column(z, j), ddof=1) ** 2
            for i in range(d)
            for j in range(d)
            if i != j
        )
        return total / d

    # the fixture's views have std near 1; scale them down so the hinge is active
    z1s, z2s = 0.3 * z1, 0.3 * z2
    invariance = _mean([float((z1s[b, j] - z2s[b, j]) ** 2) for b in range(n) for j in range(d)])
    expected = (
        lam * invariance
        + mu * (variance_term(z1s) + variance_term(z2s))
        + nu * (covariance_term(z1s) + covariance_term(z2s))
    )
    got = vicreg_loss(
        z1s, z2s, invariance_weight=lam, variance_weight=mu, covariance_weight=nu, eps=eps
    )
    assert variance_term(z1s) > 0  # the variance hinge is exercised
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_vicreg_refuses_a_batch_of_one():
    with pytest.raises(ValueError, match="at least 2"):
        vicreg_loss(torch.randn(1, 4), torch.randn(1, 4))


@pytest.mark.parametrize("loss", [byol_loss, barlow_twins_loss, vicreg_loss])
def test_losses_run_in_float32_for_half_inputs(loss, views):
    z1, z2 = (v.to(torch.bfloat16) for v in views)
    value = loss(z1, z2)
    assert value.dtype == torch.float32 and torch.isfinite(value)
