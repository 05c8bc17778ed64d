import numpy as np
import pytest
import torch

from skaudio import augment as A
from skaudio.features import LogMelSpectrogram

SR = 8000
WAVEFORM_AUGS = [
    A.Gain(),
    A.Fade(shape="linear"),
    A.Fade(shape="logarithmic"),
    A.Fade(shape="exponential"),
    A.NoiseInjection(colour="white"),
    A.NoiseInjection(colour="pink"),
    A.NoiseInjection(colour="brown"),
    A.TimeMask(fill="constant"),
    A.TimeMask(fill="noise"),
    A.TimeShift(),
    A.TimeStretch(),
    A.PitchShift(),
]
SPECTROGRAM_AUGS = [
    A.CheckerboardNoise(),
    A.TimeReversal(),
    A.FrequencyFlip(),
    A.SpecGain(),
    A.BandStop(),
    A.KeepPeaks(),
    A.KeepAboveThreshold(),
    A.SpecNoise(),
    A.SpectralEnvelope(),
    A.SpecTimeMask(),
    A.SpecFrequencyMask(),
    A.RandomResizedCrop(),
]


def _tones(batch=4, n=4000):
    t = torch.arange(n) / SR
    f0 = torch.tensor([220.0, 330.0, 440.0, 550.0])[:batch, None]
    return 0.5 * torch.sin(2 * torch.pi * f0 * t)


def _log_mel(x):
    return LogMelSpectrogram(SR)(x)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("aug", WAVEFORM_AUGS + SPECTROGRAM_AUGS, ids=repr)
def test_shape_dtype_finiteness_and_determinism(aug):
    x = _tones() if aug.domain == "waveform" else _log_mel(_tones())
    out = aug(x, _gen())
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    torch.testing.assert_close(aug(x, _gen()), out)  # same generator state, same output


@pytest.mark.parametrize(
    "aug",
    [
        a
        for a in WAVEFORM_AUGS + SPECTROGRAM_AUGS
        if not isinstance(a, A.TimeReversal | A.FrequencyFlip | A.KeepPeaks | A.SpectralEnvelope)
    ],
    ids=repr,
)
def test_random_augmentations_draw_per_example_parameters(aug):
    """Identical inputs in one batch come out different: parameters are per example."""
    one = _tones(1) if aug.domain == "waveform" else _log_mel(_tones(1))
    out = aug(one.repeat(4, *([1] * (one.dim() - 1))), _gen())
    assert not torch.allclose(out[0], out[1])


def test_gain_and_amplitude_scaling_ranges():
    x = torch.ones(1000, 10)
    gains_db = 20 * torch.log10(A.Gain(6.0)(x, _gen())[:, 0])
    assert gains_db.min() >= -6.0 - 1e-4 and gains_db.max() <= 6.0 + 1e-4
    assert gains_db.std() > 2.0
    spec = torch.zeros(100, 4, 5)
    shift = A.SpecGain(10.0)(spec, _gen())
    assert (shift == shift[:, :1, :1]).all() and shift.abs().max() <= 10.0


def test_noise_injection_reaches_the_requested_snr():
    x = _tones()
    out = A.NoiseInjection(min_snr_db=10.0, max_snr_db=10.0, colour="white")(x, _gen())
    noise = out - x
    snr = 10 * torch.log10(x.square().mean(1) / noise.square().mean(1))
    torch.testing.assert_close(snr, torch.full((4,), 10.0), atol=0.3, rtol=0)


@pytest.mark.parametrize(("colour", "slope"), [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_noise_colours_have_their_spectral_slope(colour, slope):
    noise = A.waveform.coloured_noise((64, 8192), colour, _gen(), torch.device("cpu"))
    power = torch.fft.rfft(noise).abs().square().mean(0)[10:2000]
    freqs = torch.arange(10, 2000).float()
    fitted = np.polyfit(np.log10(freqs.numpy()), np.log10(power.numpy()), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.15)


def test_fade_starts_and_ends_silent_and_keeps_the_middle():
    x = torch.ones(8, 1000)
    out = A.Fade(max_fraction=0.5)(x, _gen())
    assert out[:, 0].abs().max() < 0.05 and out[:, -1].abs().max() < 0.05
    assert (out <= 1).all()


def test_time_mask_zeroes_at_most_an_eighth():
    x = torch.ones(50, 800)
    out = A.TimeMask(max_fraction=0.125)(x, _gen())
    zeros = (out == 0).sum(1)
    assert zeros.max() <= 100 and zeros.float().mean() > 20


def test_time_shift_is_a_roll():
    x = torch.arange(20.0).repeat(3, 1)
    out = A.TimeShift(0.5)(x, _gen())
    for row in out:
        shift = int((20 - row[0]) % 20)
        torch.testing.assert_close(row, torch.roll(x[0], shift))


def _dominant_frequency(wave):
    spectrum = torch.fft.rfft(wave * torch.hann_window(wave.shape[-1])).abs()
    return float(spectrum.argmax()) * SR / wave.shape[-1]


def test_pitch_shift_moves_the_pitch_and_keeps_the_length():
    x = _tones(1, 8000)  # 220 Hz
    aug = A.PitchShift(max_semitones=12.0)
    steps = A._base.uniform(-12.0, 12.0, 1, _gen(3), x.device)  # what the call will draw
    out = aug(x, _gen(3))
    assert out.shape == x.shape
    expected = 220.0 * 2 ** (float(steps) / 12)
    assert _dominant_frequency(out[0]) == pytest.approx(expected, rel=0.04)


def test_time_stretch_keeps_the_pitch():
    x = _tones(1, 8000)
    out = A.TimeStretch(0.6, 0.6)(x, _gen())
    assert out.shape == x.shape
    # slowed down: the 220 Hz tone is still at 220 Hz (the end is zero-padded? no: cropped)
    assert _dominant_frequency(out[0]) == pytest.approx(220.0, rel=0.03)


def test_time_stretch_changes_the_duration_of_a_burst():
    x = torch.zeros(1, 8000)
    x[0, 3000:5000] = _tones(1, 2000)[0]
    fast = A.TimeStretch(2.0, 2.0)(x, _gen())[0]
    active = (fast.abs() > 0.1).nonzero()
    assert 700 < int(active.max() - active.min()) < 1300  # 2000 samples at double speed


def test_checkerboard_and_masks_turn_bins_off_to_the_floor():
    spec = torch.randn(4, 64, 50, generator=_gen(5))  # no bin sits at the floor yet
    floor = spec.amin(dim=(1, 2), keepdim=True)
    out = A.CheckerboardNoise((2,))(spec, _gen())
    off = out == floor
    assert off.float().mean() == pytest.approx(0.5, abs=0.01)
    assert (off[:, :2, :2] == off[:, :1, :1]).all()  # 2x2 squares
    masked = A.SpecFrequencyMask(0.25)(spec, _gen())
    changed_rows = (masked != spec).any(dim=2)
    assert (changed_rows.sum(1) <= 16).all()


def test_flips_and_peaks():
    spec = torch.arange(12.0).view(1, 3, 4)
    torch.testing.assert_close(A.TimeReversal()(spec, _gen()), spec.flip(-1))
    torch.testing.assert_close(A.FrequencyFlip()(spec, _gen()), spec.flip(-2))
    frame = torch.tensor([[[0.0], [5.0], [1.0], [3.0], [2.0]]])
    kept = A.KeepPeaks()(frame, _gen())
    assert kept.flatten().tolist() == [0.0, 5.0, 0.0, 3.0, 0.0]


def test_spectral_envelope_smooths_harmonic_detail():
    spec = _log_mel(_tones())
    env = A.SpectralEnvelope(9)(spec, _gen())
    curvature = lambda s: s.diff(n=2, dim=1).abs().mean()  # noqa: E731
    assert curvature(env) < 0.3 * curvature(spec)  # measured: 0.17x


def test_random_resized_crop_with_scale_one_is_identity():
    spec = _log_mel(_tones())
    torch.testing.assert_close(A.RandomResizedCrop(1.0)(spec, _gen()), spec, atol=1e-4, rtol=0)


def test_random_apply_probability_and_one_of_choice():
    x = torch.zeros(2000, 3)
    out = A.RandomApply(A.Gain(0.0), p=0.3)(x + 1, _gen())
    assert (out == 1).all()  # 0 dB gain: applied or not, identical
    flipped = A.RandomApply(_Add(1.0), p=0.3)(x, _gen())
    assert flipped[:, 0].mean() == pytest.approx(0.3, abs=0.04)
    chosen = A.OneOf([_Add(1.0), _Add(2.0)])(x, _gen())
    assert set(chosen[:, 0].tolist()) == {1.0, 2.0}


class _Add(A.Augmentation):
    def __init__(self, value):
        self.value = value

    def __call__(self, x, generator):
        return x + self.value


def test_policies_and_validation():
    for name in A.POLICIES:
        policy = A.make_policy(name)
        waveform, spectrogram = A.split_by_domain(policy)
        assert len(waveform) + len(spectrogram) == len(policy)
    assert A.make_policy(None) == [] and A.make_policy("none") == []
    with pytest.raises(ValueError, match="unknown augmentation policy"):
        A.make_policy("strong")
    with pytest.raises(TypeError, match="not an augmentation"):
        A.make_policy([lambda x: x])
    with pytest.raises(ValueError, match="cannot mix"):
        A.Compose([A.Gain(), A.TimeReversal()])


def test_pitch_policy_keeps_the_pitch_of_a_harmonic_tone():
    # Two views of a note must share its pitch: the "pitch" policy changes level,
    # noise, envelope and spectral shape, never where the harmonics are. The shift is
    # read as the lag that best aligns a view's harmonic pattern (the time-averaged
    # log-mel minus its smooth envelope) with the clean tone's; under "clar" (pitch
    # shift) the pattern moves.
    sr, n_mels, lags = 16000, 64, range(-8, 9)
    t = torch.arange(sr // 2) / sr
    tone = sum(torch.sin(2 * torch.pi * 220.0 * k * t) / k for k in range(1, 8)).repeat(32, 1)
    mel = LogMelSpectrogram(sample_rate=sr, n_mels=n_mels)

    def pattern(s):
        profile = s.mean(dim=2)[:, None]
        smooth = torch.nn.functional.avg_pool1d(profile, 9, 1, 4, count_include_pad=False)
        return (profile - smooth)[:, 0, 8:-8]

    def shifts(policy, seed):
        waveform, spectrogram = A.split_by_domain(A.make_policy(policy))
        x = tone.clone()
        for aug in waveform:
            x = aug(x, _gen(seed))
        s = mel(x)
        for aug in spectrogram:
            s = aug(s, _gen(seed + 1))
        ref = pattern(mel(tone[:1]))
        profile = s.mean(dim=2)[:, None]
        smooth = torch.nn.functional.avg_pool1d(profile, 9, 1, 4, count_include_pad=False)
        full = (profile - smooth)[:, 0]
        score = torch.stack([(full[:, 8 + k : n_mels - 8 + k] * ref).sum(1) for k in lags], 1)
        return score.argmax(dim=1) - 8

    for seed in range(3):
        assert (shifts("pitch", seed) == 0).all()
    assert (torch.cat([shifts("clar", seed) for seed in range(3)]) != 0).any()
    kinds = {type(getattr(aug, "augmentation", aug)).__name__ for aug in A.make_policy("pitch")}
    assert kinds == {"Gain", "NoiseInjection", "Fade", "TimeShift", "TimeMask", "RandomEQ"}


def test_augmentations_compare_by_value_and_print_their_parameters():
    assert A.Gain(3.0) == A.Gain(3.0) and A.Gain(3.0) != A.Gain(4.0)
    assert (
        repr(A.NoiseInjection(1.0, 2.0))
        == "NoiseInjection(min_snr_db=1.0, max_snr_db=2.0, colour='random')"
    )


@pytest.mark.parametrize("aug", WAVEFORM_AUGS, ids=repr)
@pytest.mark.parametrize("n", [1, 5, 63, 64])
def test_waveform_augmentations_accept_very_short_clips(aug, n):
    x = torch.randn(3, n, generator=_gen(1))
    out = aug(x, _gen())
    assert out.shape == x.shape and torch.isfinite(out).all()


# -- BYOL-A views ------------------------------------------------------------------


def _power(db):
    return 10.0 ** (db.double() / 10.0)


def test_log_mixup_exp_mixes_each_clip_with_another_clip_in_the_power_domain():
    x = 20 * torch.randn(6, 8, 10, generator=_gen(1))
    ratio = 0.4
    out = A.LogMixupExp(ratio)(x, _gen(2))
    px, pout = _power(x), _power(out)
    for i in range(len(x)):
        fits = []
        for j in range(len(x)):
            if j == i:
                continue
            # pout_i = (1 - w) px_i + w px_j for one w, the same in every bin
            w = (pout[i] - px[i]) / (px[j] - px[i])
            if torch.allclose(w, w.mean().expand_as(w), atol=1e-4):
                fits.append(float(w.mean()))
        assert len(fits) == 1, f"clip {i}: {fits}"
        assert 0.0 <= fits[0] <= ratio + 1e-6


def test_log_mixup_exp_edge_cases():
    x = torch.randn(5, 4, 6, generator=_gen(0))
    torch.testing.assert_close(A.LogMixupExp(0.0)(x, _gen(0)), x)
    torch.testing.assert_close(A.LogMixupExp(0.4)(x[:1], _gen(0)), x[:1])
    torch.testing.assert_close(A.LogMixupExp(0.4)(x, _gen(3)), A.LogMixupExp(0.4)(x, _gen(3)))
    with pytest.raises(ValueError, match="ratio"):
        A.LogMixupExp(1.0)


def test_random_resized_crop_above_one_shrinks_the_content_onto_the_floor():
    x = torch.full((3, 8, 30), -10.0)
    x[:, :, 10:20] = 5.0  # a burst in the middle; the floor is -10
    out = A.RandomResizedCrop(time_scale=(1.5, 1.5), freq_scale=(1.0, 1.0))(x, _gen(0))
    loud = (out > 0).sum(dim=2)  # frames above the floor, per band
    assert (loud < 10).all() and (loud >= 5).all()  # the burst is squeezed to 2/3
    assert out.min() >= -10.0 - 1e-4 and out.max() <= 5.0 + 1e-4  # no zeros padded in


def test_random_resized_crop_without_frequency_scale_keeps_the_pitch():
    x = torch.full((4, 16, 24), -40.0)
    x[:, 5] = 0.0  # one bright band
    out = A.RandomResizedCrop(time_scale=(0.6, 1.5), freq_scale=(1.0, 1.0))(x, _gen(0))
    inside = out.amax(dim=1) > -40.0 + 1e-3  # frames not padded with the floor
    assert inside.sum() > 0.5 * inside.numel()
    assert (out.argmax(dim=1)[inside] == 5).all()
    stretched = A.RandomResizedCrop(time_scale=(1.0, 1.0), freq_scale=(0.6, 1.5))(x, _gen(0))
    assert (stretched.argmax(dim=1) != 5).any()


def test_random_resized_crop_ranges_are_validated_and_identity_at_one():
    spec = torch.randn(2, 8, 12, generator=_gen(0))
    identity = A.RandomResizedCrop(time_scale=(1.0, 1.0), freq_scale=(1.0, 1.0))
    torch.testing.assert_close(identity(spec, _gen()), spec, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="time_scale"):
        A.RandomResizedCrop(time_scale=(1.5, 0.6))


def test_linear_fader_adds_a_linear_ramp_in_level_over_time():
    x = torch.randn(8, 4, 11, generator=_gen(0))
    delta = A.LinearFader(max_db=6.0)(x, _gen(1)) - x
    torch.testing.assert_close(delta, delta[:, :1].expand_as(delta))  # the same in every band
    steps = delta[:, 0].diff(dim=1)
    torch.testing.assert_close(steps, steps[:, :1].expand_as(steps))  # linear in time
    assert delta.abs().max() <= 6.0 + 1e-5
    assert delta[:, 0, 0].std() > 1.0  # random start gains, drawn per clip


def test_byol_a_policies():
    names = [type(a).__name__ for a in A.make_policy("byol-a")]
    assert names == ["LogMixupExp", "RandomResizedCrop", "LinearFader", "BatchStandardize"]
    assert A.make_policy("byol-a-pitch")[1].freq_scale == (1.0, 1.0)
    assert all(a.domain == "spectrogram" for a in A.make_policy("byol-a"))
