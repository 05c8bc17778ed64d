import librosa
import numpy as np
import pytest
import torch

from skaudio.features import LogMelSpectrogram, warp_frequency


def _librosa_log_mel(waveform, frontend, sample_rate, n_mels):
    mel = librosa.feature.melspectrogram(
        y=waveform,
        sr=sample_rate,
        n_fft=frontend.n_fft,
        hop_length=frontend.hop_length,
        win_length=frontend.win_length,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=n_mels,
    )
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)


@pytest.mark.parametrize(("sample_rate", "n_mels"), [(8000, 64), (16000, 64), (22050, 40)])
def test_matches_librosa_within_a_thousandth_of_a_db(sample_rate, n_mels):
    rng = np.random.default_rng(0)
    t = np.arange(int(0.7 * sample_rate)) / sample_rate
    waveform = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(
        np.float32
    )
    frontend = LogMelSpectrogram(sample_rate, n_mels=n_mels)
    expected = _librosa_log_mel(waveform, frontend, sample_rate, n_mels)
    out = frontend(torch.from_numpy(waveform)[None])[0].numpy()
    assert out.shape == expected.shape == (n_mels, frontend.n_frames(t.size))
    # float32 torch vs float64 librosa: the largest difference seen is ~6e-4 dB
    np.testing.assert_allclose(out, expected, atol=2e-3)


def test_batched_equals_one_at_a_time_and_is_per_clip():
    rng = np.random.default_rng(1)
    batch = torch.from_numpy(rng.standard_normal((3, 4000)).astype(np.float32))
    batch[1] *= 100  # a loud clip must not change the others' top_db floor
    frontend = LogMelSpectrogram(8000)
    together = frontend(batch)
    for i in range(3):
        torch.testing.assert_close(together[i], frontend(batch[i : i + 1])[0])


def test_frame_arithmetic():
    frontend = LogMelSpectrogram(16000)
    assert (frontend.win_length, frontend.hop_length, frontend.n_fft) == (400, 160, 512)
    for n in [1, 100, 160, 16000]:
        assert frontend(torch.zeros(1, n)).shape[-1] == frontend.n_frames(n) == 1 + n // 160


def test_silence_gives_finite_floor():
    out = LogMelSpectrogram(8000)(torch.zeros(2, 800))
    assert torch.isfinite(out).all()
    assert torch.all(out == -100.0)


def test_too_many_mel_bands_is_a_clear_error():
    with pytest.raises(ValueError, match="mel bands .* are empty"):
        LogMelSpectrogram(8000, n_mels=256)


def test_forward_is_power_spectrogram_then_log_mel():
    frontend = LogMelSpectrogram(8000, n_mels=32)
    x = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(frontend(x), frontend.log_mel(frontend.power_spectrogram(x)))


def test_warp_frequency_moves_a_partial_by_the_ratio():
    sr, n_fft = 16000, 512
    frontend = LogMelSpectrogram(sr)
    t = torch.arange(sr) / sr
    tone = torch.sin(2 * torch.pi * 1000 * t)[None].repeat(3, 1)
    power = frontend.power_spectrogram(tone)
    ratios = torch.tensor([1.0, 0.8, 1.25])
    warped = warp_frequency(power, ratios)
    torch.testing.assert_close(warped[0], power[0])  # ratio 1 is the identity
    peaks = warped[:, :, 50].argmax(dim=1) * sr / n_fft
    np.testing.assert_allclose(peaks.numpy(), [1000, 800, 1250], atol=sr / n_fft)
    # the time axis is untouched: each frame is warped on its own
    torch.testing.assert_close(warp_frequency(power[:, :, 10:20], ratios), warped[:, :, 10:20])


def test_warp_frequency_upward_empties_the_top_and_keeps_energy_finite():
    power = torch.rand(2, 129, 5)
    warped = warp_frequency(power, torch.tensor([2.0, 0.5]))
    assert torch.isfinite(warped).all() and (warped >= 0).all()
    # ratio 0.5: bin k reads bin 2k, so the upper half has no source
    assert (warped[1, 65:] == 0).all() and (warped[1, :64] > 0).all()
    torch.testing.assert_close(warped[0, ::2][:64], power[0, :64])  # bin 2k reads bin k
