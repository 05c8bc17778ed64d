import librosa
import numpy as np
import pytest
import torch

from skaudio.features import LogMelSpectrogram


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
