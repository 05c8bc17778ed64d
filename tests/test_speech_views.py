"""Speaker-invariance views for speech: SpeedPerturbation, MelWarp, RandomEQ,
UtteranceNormalization, and the "speech" policy."""

import numpy as np
import pytest
import torch

from skaudio import augment as A
from skaudio.augment._base import uniform
from skaudio.features import LogMelSpectrogram

SR = 8000
RANDOM_AUGS = [
    A.SpeedPerturbation(),
    A.MelWarp(),
    A.RandomEQ(),
]
ALL_AUGS = [*RANDOM_AUGS, A.UtteranceNormalization(), A.UtteranceNormalization(per_band=False)]


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _tones(batch=4, n=4000):
    t = torch.arange(n) / SR
    f0 = torch.tensor([220.0, 330.0, 440.0, 550.0])[:batch, None]
    return 0.5 * torch.sin(2 * torch.pi * f0 * t)


def _input(aug, batch=4):
    x = _tones(batch)
    return x if aug.domain == "waveform" else LogMelSpectrogram(SR, n_mels=32)(x)


def _peak_hz(wave):
    spectrum = torch.fft.rfft(wave.double() * torch.hann_window(wave.shape[-1], dtype=torch.double))
    return float(spectrum.abs().argmax()) * SR / wave.shape[-1]


# -- common behaviour ----------------------------------------------------------------


@pytest.mark.parametrize("aug", ALL_AUGS, ids=repr)
@pytest.mark.parametrize("batch", [1, 4])
def test_shape_dtype_finiteness_and_determinism(aug, batch):
    x = _input(aug, batch)
    out = aug(x, _gen())
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    torch.testing.assert_close(aug(x, _gen()), out, rtol=0, atol=0)
    assert not torch.equal(out, x)


@pytest.mark.parametrize("aug", ALL_AUGS, ids=repr)
def test_float64_inputs_stay_float64(aug):
    x = _input(aug).double()
    out = aug(x, _gen())
    assert out.dtype == torch.float64 and out.shape == x.shape


@pytest.mark.parametrize("aug", RANDOM_AUGS, ids=repr)
def test_parameters_are_drawn_per_clip(aug):
    one = _input(aug, 1)
    out = aug(one.repeat(4, *([1] * (one.dim() - 1))), _gen())
    for i in range(1, 4):
        assert not torch.allclose(out[0], out[i])


@pytest.mark.parametrize("aug", RANDOM_AUGS, ids=repr)
def test_a_clip_does_not_depend_on_the_rest_of_the_batch(aug):
    """Each clip's output is a function of that clip and its own draw only."""
    x = _input(aug)
    out = aug(x, _gen(3))
    other = x.clone()
    other[1:] = other[1:].flip(0) * 0.5  # change every clip but the first
    torch.testing.assert_close(aug(other, _gen(3))[0], out[0])


@pytest.mark.parametrize(
    "aug",
    [
        A.SpeedPerturbation(1.0, 1.0),
        A.MelWarp(1.0, 1.0),
        A.RandomEQ(max_gain_db=0.0),
        A.RandomEQ(n_bands=1, max_gain_db=0.0),
    ],
    ids=repr,
)
def test_identity_settings(aug):
    x = _input(aug)
    torch.testing.assert_close(aug(x, _gen()), x, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "make", [lambda: A.SpeedPerturbation(1.2, 1.1), lambda: A.MelWarp(0.0, 1.2)], ids=str
)
def test_empty_or_non_positive_ranges_are_refused(make):
    with pytest.raises(ValueError, match="need 0 <"):
        make()


def test_random_eq_validates_its_parameters():
    with pytest.raises(ValueError, match="n_bands"):
        A.RandomEQ(n_bands=0)
    with pytest.raises(ValueError, match="max_gain_db"):
        A.RandomEQ(max_gain_db=-1.0)


# -- SpeedPerturbation ----------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.9, 1.07])
def test_speed_perturbation_moves_a_tone_by_the_rate(rate):
    x = _tones(1, 8000)  # 220 Hz, 1 Hz per FFT bin
    out = A.SpeedPerturbation(rate, rate)(x, _gen())
    assert _peak_hz(out[0]) == pytest.approx(220.0 * rate, abs=1.0)


def test_speed_perturbation_matches_linear_interpolation_per_clip():
    x = torch.randn(5, 300, generator=_gen(1))
    aug = A.SpeedPerturbation(0.8, 1.25)
    rates = uniform(0.8, 1.25, 5, _gen(2), x.device)  # what the call draws
    out = aug(x, _gen(2))
    for row, clip, rate in zip(out, x, rates, strict=True):
        positions = np.arange(300) * float(rate)
        # numpy reference: interpolate, zeros past the clip's end (start kept)
        expected = np.interp(positions, np.arange(300), clip.numpy(), right=0.0)
        expected[positions > 299] = 0.0
        # float32 positions: up to 1.5e-5 samples off at 300 samples
        np.testing.assert_allclose(row.numpy(), expected, atol=1e-4)


def test_speed_perturbation_pads_a_fast_clip_and_crops_a_slow_one_at_the_end():
    x = torch.ones(1, 1000)
    fast = A.SpeedPerturbation(1.25, 1.25)(x, _gen())[0]
    assert (fast[:800] == 1).all() and (fast[800:] == 0).all()  # 1000 / 1.25 samples
    ramp = torch.arange(1000.0)[None]
    slow = A.SpeedPerturbation(0.5, 0.5)(ramp, _gen())[0]
    torch.testing.assert_close(slow, ramp[0] * 0.5)  # the first half, stretched: start kept


@pytest.mark.parametrize("n", [1, 2, 5, 63])
def test_speed_perturbation_accepts_very_short_clips(n):
    x = torch.randn(3, n, generator=_gen(1))
    out = A.SpeedPerturbation()(x, _gen())
    assert out.shape == x.shape and torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 0], x[:, 0])  # sample 0 stays in place


# -- MelWarp --------------------------------------------------------------------------


def _warp_reference(spec, ratio):
    """Row k of the output is row k / ratio of the input, interpolated; floor beyond."""
    n_mels = spec.shape[0]
    floor = float(spec.min())
    out = np.empty_like(spec)
    for t in range(spec.shape[1]):
        out[:, t] = np.interp(np.arange(n_mels) / ratio, np.arange(n_mels), spec[:, t], right=floor)
    return out


def test_mel_warp_matches_interpolating_the_rows_per_clip():
    x = 20 * torch.randn(6, 24, 7, generator=_gen(1)) - 40
    aug = A.MelWarp(0.7, 1.4)
    ratios = uniform(0.7, 1.4, 6, _gen(4), x.device)
    out = aug(x, _gen(4))
    assert (ratios < 1).any() and (ratios > 1).any()
    for row, clip, ratio in zip(out, x, ratios, strict=True):
        np.testing.assert_allclose(
            row.numpy(), _warp_reference(clip.numpy(), float(ratio)), atol=1e-4
        )


def test_mel_warp_moves_formant_like_peaks_by_the_ratio_and_keeps_the_floor():
    x = torch.full((2, 64, 5), -80.0)
    x[:, 20] = 0.0  # one bright band
    up = A.MelWarp(1.2, 1.2)(x, _gen())
    down = A.MelWarp(0.85, 0.85)(x, _gen())
    assert (up[:, 24] == 0.0).all()  # 20 * 1.2
    assert (down.argmax(dim=1) == 17).all()  # 20 * 0.85 = 17
    assert down.min() == -80.0 and (down[:, 55:] == -80.0).all()  # above the source: floor
    assert up.amin() >= -80.0 and up.amax() <= 0.0  # interpolation stays within range


# -- RandomEQ ---------------------------------------------------------------------------


def test_random_eq_adds_one_smooth_bounded_curve_per_clip():
    x = torch.randn(200, 64, 6, generator=_gen(1))
    delta = A.RandomEQ(10, 12.0)(x, _gen(2)) - x
    curve = delta[:, :, 0]
    torch.testing.assert_close(delta, curve[:, :, None].expand_as(delta))  # every frame
    assert curve.abs().max() <= 12.0 + 1e-4
    spacing = 63 / 9
    # between neighbours g, g' the curve is g + (g' - g) sin^2(pi u / 2), u in [0, 1]:
    # |slope| <= pi / 2 |g' - g| / spacing, |curvature| <= (pi / spacing)^2 / 2 |g' - g|
    assert curve.diff(dim=1).abs().max() <= torch.pi * 12.0 / spacing + 1e-3
    assert curve.diff(n=2, dim=1).abs().max() <= 12.0 * (torch.pi / spacing) ** 2 + 1e-3
    assert curve.std(dim=1).mean() > 3.0  # the bands differ: not a flat level
    assert curve[:, 0].std() > 5.0  # and the gains differ from clip to clip


def test_random_eq_interpolates_the_band_gains():
    """At each band's centre the curve is that band's gain; equal gains give a flat curve."""
    n_mels, n_bands = 28, 4  # centres at mel bands 0, 9, 18, 27
    x = torch.zeros(3, n_mels, 1)
    gains = uniform(-6.0, 6.0, 3 * n_bands, _gen(5), x.device).view(3, n_bands)
    curve = A.RandomEQ(n_bands, 6.0)(x, _gen(5))[:, :, 0]
    torch.testing.assert_close(curve[:, [0, 9, 18, 27]], gains)
    weights = A.spectrogram._eq_band_weights(n_bands, n_mels)
    torch.testing.assert_close(weights.sum(dim=0), torch.ones(n_mels))
    assert (weights >= 0).all()
    level = A.RandomEQ(n_bands=1, max_gain_db=6.0)(x, _gen(5))[:, :, 0]
    torch.testing.assert_close(level, level[:, :1].expand_as(level))  # one band: a level


def test_random_eq_on_a_single_mel_band():
    x = torch.zeros(2, 1, 3)
    out = A.RandomEQ()(x, _gen())
    assert out.shape == x.shape and out.abs().max() <= 12.0


# -- UtteranceNormalization --------------------------------------------------------------


def test_utterance_normalization_per_band_matches_cmvn():
    x = 15 * torch.randn(3, 8, 40, generator=_gen(1)) - 50
    x[:, 6:] = -80.0  # constant bands (the top_db floor)
    out = A.UtteranceNormalization()(x, _gen())
    ref = x.double().numpy()
    mean, std = ref.mean(axis=2, keepdims=True), ref.std(axis=2, keepdims=True)
    expected = (ref - mean) / np.maximum(std, 1e-5)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)
    assert (out[:, 6:] == 0).all()  # exactly 0, not float32 rounding over eps


def test_utterance_normalization_removes_a_per_band_gain_and_a_level():
    x = 15 * torch.randn(3, 16, 30, generator=_gen(1)) - 50
    coloured = A.RandomEQ(10, 12.0)(x, _gen(2)) + 7.0
    per_band = A.UtteranceNormalization()
    torch.testing.assert_close(per_band(coloured, _gen()), per_band(x, _gen()), atol=1e-4, rtol=0)
    whole = A.UtteranceNormalization(per_band=False)
    out = whole(x + 7.0, _gen())
    torch.testing.assert_close(out, whole(x, _gen()), atol=1e-4, rtol=0)
    std, mean = torch.std_mean(out, dim=(1, 2), correction=0)
    torch.testing.assert_close(mean, torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(std, torch.ones(3))
    assert not torch.allclose(whole(coloured, _gen()), out, atol=1e-2)  # EQ is not removed


def test_utterance_normalization_is_deterministic_and_not_standardizing():
    x = torch.randn(2, 4, 9, generator=_gen(0))
    aug = A.UtteranceNormalization()
    torch.testing.assert_close(aug(x, _gen(0)), aug(x, _gen(1)), rtol=0, atol=0)
    assert not getattr(aug, "standardizes", False)  # no dataset pre-normalisation implied
    torch.testing.assert_close(aug(torch.full((1, 2, 3), -30.0), _gen()), torch.zeros(1, 2, 3))


# -- the "speech" policy ----------------------------------------------------------------


def test_speech_policy():
    policy = A.make_policy("speech")
    names = [type(a.augmentation).__name__ for a in policy]
    assert names == [
        "SpeedPerturbation",
        "MelWarp",
        "RandomEQ",
        "SpecGain",
        "RandomResizedCrop",
        "SpecTimeMask",
        "SpecFrequencyMask",
    ]
    assert policy[1].augmentation == A.MelWarp(0.85, 1.2)
    assert policy[2].augmentation == A.RandomEQ(10, 12.0)
    assert policy[4].augmentation.freq_scale == (1.0, 1.0)  # no frequency scaling on the warp
    assert not any(getattr(a, "standardizes", False) for a in policy)
    assert A.make_policy("speech") is not policy and A.make_policy("speech") == policy
    waveform, spectrogram = A.split_by_domain(policy)
    assert len(waveform) == 1 and len(spectrogram) == 6


def test_speech_policy_runs_on_a_batch():
    waveform, spectrogram = A.split_by_domain(A.make_policy("speech"))
    frontend = LogMelSpectrogram(SR, n_mels=32)
    for batch in (1, 4):
        generator = _gen(0)
        x = _tones(batch)
        for aug in waveform:
            x = aug(x, generator)
        spec = frontend(x)
        for aug in spectrogram:
            spec = aug(spec, generator)
        assert spec.shape == (batch, 32, frontend.n_frames(4000)) and torch.isfinite(spec).all()
