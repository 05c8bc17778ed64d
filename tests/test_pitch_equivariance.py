"""Pitch equivariance of the two-view estimator: the pitch pair, its head and its loss."""

import pickle

import numpy as np
import pytest
import torch

from skaudio import ContrastiveAudioEmbedder
from skaudio._compat import InvalidParameterError
from skaudio.augment import Gain, SpecTimeMask
from skaudio.datasets import make_tones
from skaudio.encoders import CNNEncoder
from skaudio.features import LogMelSpectrogram
from skaudio.heads import PitchHead
from skaudio.losses import (
    BarlowTwinsCriterion,
    BYOLCriterion,
    BYOLOutput,
    NTXentCriterion,
    PitchEquivarianceCriterion,
    PitchEquivarianceOutput,
    VICRegCriterion,
)
from skaudio.models import BYOLModel, ContrastiveModel
from skaudio.training import SelfSupervisedNet

SR = 8000
SEGMENT = 800  # samples: 0.1 s
TINY = dict(
    sample_rate=SR,
    segment_seconds=SEGMENT / SR,
    n_mels=16,
    embedding_dim=8,
    projection_dim=8,
    batch_size=8,
    max_epochs=2,
    lr=3e-3,
    pitch_weight=0.5,
    random_state=0,
)


@pytest.fixture(scope="module")
def clips():
    X, _ = make_tones(n_clips=24, n_classes=3, sample_rate=SR, random_state=0)
    return [x[:SEGMENT] for x in X]


def _model(cls=ContrastiveModel, **kwargs):
    """A tiny model with a waveform and a spectrogram augmentation."""
    torch.manual_seed(0)
    encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    augmentations = [Gain(6.0), SpecTimeMask(0.2)]
    return cls(LogMelSpectrogram(SR, n_mels=16), encoder, augmentations, 8, 2, **kwargs)


def _waves(batch=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, SEGMENT, generator=g), torch.randn(batch, SEGMENT, generator=g)


# -- the head and the loss -------------------------------------------------------------------


def _output(views, seed=0, batch=6, n_frames=5):
    g = torch.Generator().manual_seed(seed)
    original = torch.randn(batch, n_frames, generator=g)
    shifted = original + 3 * torch.rand(batch, 1, generator=g) + torch.randn(batch, n_frames)
    semitones = 8 * torch.rand(batch, generator=g) - 4
    return PitchEquivarianceOutput(views, original, shifted, semitones)


def _criteria():
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(2, 6, 8, generator=g)
    byol = BYOLOutput(*torch.randn(2, 6, 8, generator=g), None, *torch.randn(2, 6, 8, generator=g))
    return [
        (NTXentCriterion(0.2), (z1, z2, None)),
        (BarlowTwinsCriterion(0.1), (z1, z2, None)),
        (VICRegCriterion(), (z1, z2, None)),
        (BYOLCriterion(), byol),
    ]


@pytest.mark.parametrize("criterion, views", _criteria())
def test_loss_and_metric_against_a_reference(criterion, views):
    output = _output(views)
    wrapped = PitchEquivarianceCriterion(criterion, pitch_weight=0.3)
    squares, errors = [], []
    for b in range(6):  # every clip, every frame: the relative pitch against the shift
        for t in range(5):
            residual = output.pitch_shifted[b, t] - output.pitch_original[b, t]
            squares.append(float((residual - output.semitones[b]) ** 2))
            errors.append(abs(float(residual - output.semitones[b])))
    expected = float(criterion(views, None)) + 0.3 * np.mean(squares)
    assert float(wrapped(output, None)) == pytest.approx(expected, rel=1e-6)
    metrics = wrapped.metrics(output)
    assert wrapped.metric_names == (*criterion.metric_names, "pitch_error")
    assert list(metrics) == list(wrapped.metric_names)
    assert metrics["pitch_error"] == pytest.approx(np.mean(errors), rel=1e-6)
    for name, value in criterion.metrics(views).items():
        assert metrics[name] == value


def test_supervised_term_passes_through():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 6, 8, generator=g)
    views = (z1, z2, torch.randn(12, 3, generator=g))
    target = torch.tensor([0, 2, -1, 1, -1, 0])
    inner = NTXentCriterion(0.2, supervised_weight=1.0)
    output = _output(views)
    wrapped = PitchEquivarianceCriterion(inner, pitch_weight=0.3)
    pitch = float(wrapped(output, None) - inner(views, None))
    assert float(wrapped(output, target)) == pytest.approx(float(inner(views, target)) + pitch)


def test_the_pitch_term_trains_the_head_scores_only_by_their_difference():
    output = _output((torch.zeros(6, 8), torch.zeros(6, 8), None))
    moved = output._replace(
        pitch_original=output.pitch_original + 5.0, pitch_shifted=output.pitch_shifted + 5.0
    )
    criterion = PitchEquivarianceCriterion(BYOLCriterion(), 1.0)
    byol = BYOLOutput(*torch.ones(2, 6, 8), None, *torch.ones(2, 6, 8))
    a, b = output._replace(views=byol), moved._replace(views=byol)
    assert float(criterion(a)) == pytest.approx(float(criterion(b)))
    # a head that predicts the shift exactly leaves the objective alone
    exact = a._replace(pitch_shifted=a.pitch_original + a.semitones[:, None])
    assert float(criterion(exact)) == pytest.approx(float(BYOLCriterion()(byol, None)), abs=1e-6)


@pytest.mark.parametrize("weight", [0.0, -1.0])
def test_the_criterion_refuses_a_weight_that_is_not_positive(weight):
    with pytest.raises(ValueError, match="pitch_weight"):
        PitchEquivarianceCriterion(NTXentCriterion(0.2), weight)


def test_pitch_head_scores_every_frame():
    head = PitchHead(6)
    frames = torch.randn(3, 4, 6)
    scores = head(frames)
    assert scores.shape == (3, 4)
    torch.testing.assert_close(scores[1, 2], head(frames[1, 2]))  # frame by frame
    assert head(torch.randn(2, 1, 6)).shape == (2, 1)  # a single frame stays a frame


# -- the model -------------------------------------------------------------------------------


def _pair_reference(model, waves, semitones):
    """The pitch pair, one row at a time: speed change by np.interp, cut, pad, low-pass."""
    n = waves.shape[1]
    length = int(n * 2.0 ** (-model.pitch_shift_semitones / 12))
    rows = []
    for wave, shift in zip(waves.numpy(), semitones.tolist(), strict=True):
        times = np.arange(length) * 2.0 ** (shift / 12)  # the copy's sample t reads x(r t)
        faster = np.interp(times, np.arange(n), wave)
        rows += [np.pad(wave[:length], (0, n - length)), np.pad(faster, (0, n - length))]
    power = model.frontend.power_spectrogram(torch.tensor(np.stack(rows), dtype=torch.float32))
    n_bins = power.shape[1]
    cutoff = 2.0 ** (-model.pitch_shift_semitones / 12) * (n_bins - 1)
    kept = torch.tensor([float(k <= cutoff) for k in range(n_bins)])[:, None]
    log_mel = model.frontend.log_mel(power * kept)
    return log_mel[0::2], log_mel[1::2]


def test_pitch_pair_is_a_speed_change_cut_and_low_passed_alike():
    model = _model(pitch_shift_semitones=3.0).eval()
    waves, _ = _waves()
    original, shifted, semitones = model.pitch_pair(waves)
    expected_original, expected_shifted = _pair_reference(model, waves, semitones)
    torch.testing.assert_close(original[:, 0], expected_original)
    torch.testing.assert_close(shifted[:, 0], expected_shifted, rtol=1e-4, atol=1e-2)  # in dB
    # a tone moves with the shift: the copy's loudest band follows the shift
    t = torch.arange(4 * SEGMENT) / SR
    tone = torch.sin(2 * torch.pi * 400 * t)[None]
    model.pitch_shift_semitones = 12.0  # an octave either way: 400 Hz to 200-800 Hz
    _, copies, shifts = model.pitch_pair(tone.expand(16, -1))
    peaks = copies[:, 0, :, :8].mean(dim=-1).argmax(dim=1)[shifts.argsort()]
    assert (peaks.diff() >= 0).all() and peaks[-1] - peaks[0] >= 4


def test_shifts_are_drawn_per_example_from_the_models_seeded_generator():
    waves, _ = _waves(batch=64)
    model = _model(pitch_shift_semitones=2.5, augment_seed=3)
    first = model.pitch_pair(waves)[2]
    second = model.pitch_pair(waves)[2]
    assert first.shape == (64,) and first.abs().max() <= 2.5 and first.unique().numel() == 64
    assert first.min() < -2 and first.max() > 2  # the whole range, both signs
    assert not torch.equal(first, second)  # fresh draws at every batch
    again = _model(pitch_shift_semitones=2.5, augment_seed=3)
    torch.testing.assert_close(again.pitch_pair(waves)[2], first, rtol=0, atol=0)
    other = _model(pitch_shift_semitones=2.5, augment_seed=4)
    assert not torch.allclose(other.pitch_pair(waves)[2], first)
    # pickled, the generator starts again from the seed
    copy = pickle.loads(pickle.dumps(again))
    torch.testing.assert_close(copy.pitch_pair(waves)[2], first, rtol=0, atol=0)


def _encoder_inputs(model):
    """Record what the encoder reads (forward_frames, the entry of every path)."""
    seen = []
    forward_frames = model.encoder.forward_frames

    def record(x, *args, **kwargs):
        seen.append(x.detach().clone())
        return forward_frames(x, *args, **kwargs)

    model.encoder.forward_frames = record
    return seen


@pytest.mark.parametrize("cls", [ContrastiveModel, BYOLModel])
def test_the_objectives_views_never_see_the_shift(cls):
    anchor, positive = _waves()
    plain = _model(cls, augment_seed=5).train()
    pitched = _model(cls, augment_seed=5, pitch_shift_semitones=4.0).train()
    expected = plain.augmented_input(torch.cat([anchor, positive]))
    seen = _encoder_inputs(pitched)
    targets = []
    if cls is BYOLModel:
        pitched.target_encoder.register_forward_pre_hook(lambda _, args: targets.append(args[0]))
    output = pitched(anchor, positive)
    (x,) = seen
    assert x.shape[0] == 4 * 6  # views 1 and 2, then the pitch pair
    # the views: the very input of the model without the pitch head, same draws
    torch.testing.assert_close(x[:12], expected, rtol=0, atol=0)
    # the pair: the second view after its waveform augmentation, the shifts drawn last
    generator = torch.Generator().manual_seed(5)
    waves = Gain(6.0)(torch.cat([anchor, positive]), generator)
    SpecTimeMask(0.2)(torch.zeros(12, 16, 11), generator)  # the spectrogram draws
    semitones = 4.0 * (2 * torch.rand(6, generator=generator) - 1)
    torch.testing.assert_close(output.semitones, semitones)
    original, shifted = _pair_reference(pitched, waves[6:], semitones)
    torch.testing.assert_close(x[12:18, 0], original)
    torch.testing.assert_close(x[18:, 0], shifted, rtol=1e-4, atol=1e-2)  # float32 positions
    if cls is BYOLModel:  # the target network reads the two views only
        (target_input,) = targets
        torch.testing.assert_close(target_input, expected, rtol=0, atol=0)
        assert isinstance(output.views, BYOLOutput)
    # the frames of the pair's first 634 samples: 7 log-mel frames, 1 encoder frame
    assert output.pitch_original.shape == output.pitch_shifted.shape == (6, 1)


def test_in_evaluation_mode_the_views_are_those_of_the_plain_model():
    anchor, positive = _waves()
    plain = _model().eval()
    pitched = _model(pitch_shift_semitones=4.0).eval()
    z1, z2, _ = plain(anchor, positive)
    output = pitched(anchor, positive)
    assert isinstance(output, PitchEquivarianceOutput)
    torch.testing.assert_close(output.views[0], z1)
    torch.testing.assert_close(output.views[1], z2)
    assert set(pitched.state_dict()) - set(plain.state_dict()) == {
        f"pitch_head.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")
    }


def test_models_refuse_bad_settings():
    with pytest.raises(ValueError, match="positive"):
        _model(pitch_shift_semitones=0.0)
    encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,))
    encoder.input_representation = "waveform"
    with pytest.raises(ValueError, match="raw waveforms"):
        ContrastiveModel(
            LogMelSpectrogram(SR, n_mels=16), encoder, [], 8, 2, pitch_shift_semitones=2
        )


def _tone(f0, decay, phases, n_samples, rng):
    t = np.arange(n_samples) / SR
    harmonics = [h for h in range(1, 40) if h * f0 < SR / 2]
    x = sum(h**-decay * np.sin(2 * np.pi * h * f0 * t + phases[h]) for h in harmonics)
    return (x / np.abs(x).max() + 0.05 * rng.standard_normal(n_samples)).astype(np.float32)


@pytest.mark.slow
def test_the_head_learns_relative_pitch_that_holds_for_real_pitch_changes():
    """A short fit on tones: the head predicts the warp's shift, and real pitch changes."""
    X, _ = make_tones(n_clips=64, sample_rate=SR, duration=(0.3, 0.5), random_state=0)
    waves = torch.from_numpy(np.stack([x[:1000] for x in X]))
    torch.manual_seed(0)
    encoder = CNNEncoder(n_mels=32, embedding_dim=32, channels=(8, 16), readout_bands=2)
    model = ContrastiveModel(
        LogMelSpectrogram(SR, n_mels=32), encoder, [], 16, 2, pitch_shift_semitones=4.0
    )
    criterion = PitchEquivarianceCriterion(NTXentCriterion(0.2), pitch_weight=1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    errors = []
    for _ in range(120):
        batch = waves[torch.randperm(len(waves), generator=generator)[:16]]
        output = model(batch, batch)
        loss = criterion(output)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        errors.append(criterion.metrics(output)["pitch_error"])
    chance = 8 / np.sqrt(12)  # std of the shifts, uniform in [-4, 4]
    assert np.mean(errors[:5]) > 0.6 * chance and np.mean(errors[-10:]) < 0.3 * chance
    # pairs of real tones a known interval apart (not warped): the same timbre and phases
    model.eval()
    rng = np.random.default_rng(1)
    intervals, predicted = [], []
    for _ in range(32):
        f0, k = np.exp(rng.uniform(np.log(160), np.log(550))), rng.uniform(-4, 4)
        decay, phases = rng.uniform(0.5, 2), rng.uniform(0, 2 * np.pi, 40)
        pair = [_tone(f, decay, phases, 2000, rng) for f in (f0, f0 * 2 ** (k / 12))]
        with torch.no_grad():
            frames = model.encoder.forward_frames(
                model.spectrogram(torch.from_numpy(np.stack(pair)))
            )
            scores = model.pitch_head(frames).mean(dim=1)
        intervals.append(k)
        predicted.append(float(scores[1] - scores[0]))
    intervals, predicted = np.array(intervals), np.array(predicted)
    assert np.corrcoef(intervals, predicted)[0, 1] > 0.8
    assert np.abs(predicted - intervals).mean() < 0.55 * chance  # predicting 0 gives ~0.87


# -- the estimator ---------------------------------------------------------------------------


def test_default_builds_nothing_and_ignores_the_shift_range(clips):
    params = {**TINY, "pitch_weight": 0.0}
    default = ContrastiveAudioEmbedder(**params).fit(clips)
    other = ContrastiveAudioEmbedder(**params, pitch_shift_semitones=9.0).fit(clips)
    assert ContrastiveAudioEmbedder().get_params()["pitch_weight"] == 0.0
    model = default.net_.module_
    assert model.pitch_head is None and model.pitch_shift_semitones is None
    assert type(default.net_.criterion_) is NTXentCriterion
    assert "train_pitch_error" not in default.history_[-1]
    np.testing.assert_array_equal(default.transform(clips), other.transform(clips))
    np.testing.assert_array_equal(
        default.history_[:, "train_loss"], other.history_[:, "train_loss"]
    )


@pytest.mark.parametrize(
    "objective, inner, metric",
    [
        ("nt_xent", NTXentCriterion, "train_pretext_acc"),
        ("barlow_twins", BarlowTwinsCriterion, "train_diagonal_corr"),
        ("vicreg", VICRegCriterion, "train_embedding_std"),
        ("byol", BYOLCriterion, "train_target_std"),
    ],
)
def test_every_objective_takes_the_pitch_term(clips, objective, inner, metric):
    embedder = ContrastiveAudioEmbedder(**TINY, objective=objective).fit(clips)
    criterion = embedder.net_.criterion_
    assert isinstance(criterion, PitchEquivarianceCriterion) and criterion.pitch_weight == 0.5
    assert type(criterion.criterion) is inner
    model = embedder.net_.module_
    assert model.pitch_shift_semitones == 4.0 and isinstance(model.pitch_head, PitchHead)
    errors = embedder.history_[:, "train_pitch_error"]
    assert np.isfinite(errors).all() and np.isfinite(embedder.history_[:, metric]).all()
    assert 0 < errors[0] < 4  # a mean absolute error in semitones
    assert np.isfinite(embedder.history_[:, "train_loss"]).all()
    Z = embedder.transform(clips)
    assert Z.shape == (len(clips), 8) and np.isfinite(Z).all()


def test_pickle_round_trip_gives_identical_embeddings(clips):
    embedder = ContrastiveAudioEmbedder(**TINY).fit(clips)
    again = pickle.loads(pickle.dumps(embedder))
    np.testing.assert_array_equal(again.transform(clips), embedder.transform(clips))
    for key, value in again.net_.module_.state_dict().items():
        assert torch.equal(value, embedder.net_.module_.state_dict()[key]), key


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(clips, tmp_path, monkeypatch):
    params = {**TINY, "max_epochs": 3, "objective": "vicreg"}

    def on_batch_end(self, *args, **kwargs):
        if len(self.history) == 2 and len(self.history[-1]["batches"]) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(SelfSupervisedNet, "on_batch_end", on_batch_end, raising=False)
    embedder = ContrastiveAudioEmbedder(**params, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        embedder.fit(clips)
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epochs"] == 1
    monkeypatch.undo()
    resumed = embedder.fit(clips)
    straight = ContrastiveAudioEmbedder(**params).fit(clips)
    np.testing.assert_array_equal(resumed.transform(clips), straight.transform(clips))
    for key in ("train_loss", "train_pitch_error"):
        np.testing.assert_array_equal(resumed.history_[:, key], straight.history_[:, key])
    expected = straight.net_.module_.state_dict()
    for key, value in resumed.net_.module_.state_dict().items():  # the pitch head too
        assert torch.equal(value, expected[key]), key


@pytest.mark.parametrize(
    "params",
    [
        {"pitch_weight": -0.1},
        {"pitch_weight": "high"},
        {"pitch_shift_semitones": 0.0},
        {"pitch_shift_semitones": -2.0},
    ],
)
def test_invalid_parameters_are_refused(clips, params):
    with pytest.raises(InvalidParameterError, match=next(iter(params))):
        ContrastiveAudioEmbedder(**{**TINY, **params}).fit(clips)


def test_waveform_encoders_refuse_the_pitch_term(clips):
    embedder = ContrastiveAudioEmbedder(
        **TINY, input_representation="waveform", encoder="resnet18", augmentations="waveform"
    )
    with pytest.raises(ValueError, match="pitch_weight"):
        embedder.fit(clips)
