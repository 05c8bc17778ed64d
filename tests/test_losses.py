import math

import pytest
import torch

from skaudio.heads import BilinearSimilarity, CosineSimilarity, ProjectionHead
from skaudio.losses import (
    COLACriterion,
    COLAOutput,
    bilinear_logits,
    cola_loss,
    contrastive_accuracy,
    contrastive_cross_entropy,
    cosine_logits,
    frame_contrastive_accuracy,
    frame_contrastive_loss,
    nt_xent_loss,
    pitch_shift_loss,
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


# -- multi-strategy COLA: frame-level and pitch-shift losses ---------------------------


def _reference_frame_loss(logits, margin):
    """Loop over sequences and frames: -log(sum over positives / sum over other frames)."""
    total, count = 0.0, 0
    for seq in logits.double():
        n = seq.shape[0]
        for t in range(n):
            others = [u for u in range(n) if u != t]
            near = [u for u in others if abs(u - t) <= margin]
            denominator = sum(math.exp(float(seq[t, u])) for u in others)
            numerator = sum(math.exp(float(seq[t, u])) for u in near)
            total += math.log(denominator) - math.log(numerator)
            count += 1
    return total / count


@pytest.mark.parametrize("margin", [1, 2])
@pytest.mark.parametrize("n_frames", [2, 3, 7])
def test_frame_loss_matches_reference_loop(margin, n_frames):
    logits = torch.randn(4, n_frames, n_frames, generator=torch.Generator().manual_seed(n_frames))
    expected = _reference_frame_loss(logits, margin)
    assert frame_contrastive_loss(logits, margin).item() == pytest.approx(expected, rel=1e-5)


def test_frame_loss_edge_cases():
    one = torch.randn(3, 1, 1, requires_grad=True)
    loss = frame_contrastive_loss(one)
    assert loss.item() == 0.0
    loss.backward()  # still part of the graph: a batch of one-frame segments trains
    assert torch.isnan(frame_contrastive_accuracy(one.detach()))
    # every other frame a positive: nothing to contrast
    assert frame_contrastive_loss(torch.randn(2, 5, 5), margin=4).item() == pytest.approx(0.0)


def test_frame_accuracy_counts_nearest_frames_within_margin():
    n = 6
    steps = torch.arange(n, dtype=torch.float32)
    temporal = -(steps[:, None] - steps[None]).abs()[None]  # nearest frames most similar
    assert frame_contrastive_accuracy(temporal).item() == 1.0
    assert frame_contrastive_loss(temporal * 20).item() < 0.01
    assert frame_contrastive_accuracy(-temporal).item() == 0.0  # farthest frames picked


def test_batched_similarities_equal_one_sequence_at_a_time(batch):
    frames = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(1))
    _, _, weight = batch
    for logits_of in (
        lambda a, b: bilinear_logits(a, b, weight),
        lambda a, b: cosine_logits(a, b, 0.3),
    ):
        batched = logits_of(frames, frames)
        for i in range(3):
            torch.testing.assert_close(batched[i], logits_of(frames[i], frames[i]))


def test_pitch_shift_loss_is_zero_for_exact_differences_and_squared_otherwise():
    original = torch.randn(3, 4)
    semitones = torch.tensor([-2.0, 0.5, 3.0])
    exact = pitch_shift_loss(original + semitones[:, None], original, semitones)
    assert exact.item() == pytest.approx(0.0, abs=1e-12)
    off_by_one = pitch_shift_loss(original + semitones[:, None] + 1, original, semitones)
    assert off_by_one.item() == pytest.approx(1.0)


def test_cola_criterion_weights_the_strategies():
    g = torch.Generator().manual_seed(0)
    output = COLAOutput(
        clip_logits=torch.randn(4, 4, generator=g),
        frame_logits=torch.randn(8, 5, 5, generator=g),
        pitch_shifted=torch.randn(4, 5, generator=g),
        pitch_original=torch.randn(4, 5, generator=g),
        semitones=torch.randn(4, generator=g),
    )
    clip = contrastive_cross_entropy(output.clip_logits)
    frame = frame_contrastive_loss(output.frame_logits, 2)
    pitch = pitch_shift_loss(output.pitch_shifted, output.pitch_original, output.semitones)
    criterion = COLACriterion(frame_weight=0.5, pitch_weight=2.0, frame_margin=2)
    torch.testing.assert_close(criterion(output), clip + 0.5 * frame + 2.0 * pitch)
    assert set(criterion.metrics(output)) == set(criterion.metric_names)
    assert criterion.metric_names == ("pretext_acc", "frame_loss", "frame_acc", "pitch_loss")
    plain = COLACriterion()
    assert plain.metric_names == ("pretext_acc",)
    torch.testing.assert_close(plain(COLAOutput(output.clip_logits)), clip)
