"""The log-frequency frontend and the embedders' ``frequency_scale``."""

import io

import joblib
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skaudio import COLAEmbedder, ContrastiveAudioEmbedder
from skaudio.clips import as_clips
from skaudio.features import (
    LogFrequencySpectrogram,
    LogMelSpectrogram,
    log_frequency_filterbank,
    make_frontend,
)

SR = 16000


def _tone(f0, seconds=0.5, harmonics=(1.0,), sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(a * np.sin(2 * np.pi * (h + 1) * f0 * t) for h, a in enumerate(harmonics))
    return (0.3 * wave / np.abs(wave).max()).astype(np.float32)


@pytest.mark.parametrize(("sample_rate", "n_fft", "n_bands"), [(16000, 1024, 64), (8000, 512, 48)])
def test_filterbank_has_unit_area_geometric_centres_and_no_empty_band(sample_rate, n_fft, n_bands):
    bank = log_frequency_filterbank(sample_rate, n_fft, n_bands, fmin=32.7)
    assert bank.shape == (n_bands, n_fft // 2 + 1) and bank.dtype == np.float32
    np.testing.assert_allclose(bank.sum(axis=1), 1.0, rtol=1e-5)
    assert (bank.max(axis=1) > 0).all()
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    centres = (bank * freqs).sum(axis=1)  # each band's centre of mass
    assert (np.diff(centres) > 0).all()
    # above the bin spacing the bands are triangles in log-frequency: centres geometric
    ratios = centres[1:] / centres[:-1]
    high = centres[:-1] > 20 * sample_rate / n_fft
    np.testing.assert_allclose(ratios[high][:-1], ratios[high][0], rtol=0.05)


def test_filterbank_refuses_bad_edges():
    with pytest.raises(ValueError, match="fmin < fmax"):
        log_frequency_filterbank(SR, 1024, 64, fmin=0.0)
    with pytest.raises(ValueError, match="fmin < fmax"):
        log_frequency_filterbank(SR, 1024, 64, fmin=500.0, fmax=400.0)
    with pytest.raises(ValueError, match="Nyquist"):
        log_frequency_filterbank(SR, 1024, 64, fmin=32.7, fmax=9000.0)


def _best_lag(front, f0, ratio, harmonics, max_lag=12):
    """The shift, in bands, that best aligns the spectrum of ``f0 * ratio`` with ``f0``'s."""
    a, b = (
        front(torch.from_numpy(_tone(f, harmonics=harmonics))[None])[0].mean(dim=1).numpy()
        for f in (f0, f0 * ratio)
    )
    n = a.size - max_lag
    errors = [np.abs(b[lag : lag + n] - a[:n]).mean() for lag in range(max_lag + 1)]
    return int(np.argmin(errors))


def test_a_pitch_shift_translates_the_log_frequency_spectrum():
    """A harmonic tone moved up by m bands' worth of frequency is its spectrum moved m
    bands, at any pitch; on the mel scale the same shift moves a low note's spectrum by
    fewer bands than a higher note's (the scale is linear below 1 kHz)."""
    harmonics = (1.0, 0.8, 0.6, 0.5, 0.4, 0.3)
    frontend = LogFrequencySpectrogram(SR, n_mels=64)
    m = 5
    ratio = 2 ** (m / frontend.bands_per_octave)
    assert [_best_lag(frontend, f0, ratio, harmonics) for f0 in (110, 220, 330)] == [m, m, m]
    mel = LogMelSpectrogram(SR, n_mels=64)
    assert _best_lag(mel, 110, ratio, harmonics) < _best_lag(mel, 330, ratio, harmonics)


def test_make_frontend_and_its_errors():
    assert type(make_frontend(SR, 64, "mel")) is LogMelSpectrogram
    log = make_frontend(SR, 64, "log")
    assert type(log) is LogFrequencySpectrogram and log.n_fft == 1024 and log.n_mels == 64
    with pytest.raises(ValueError, match="frequency_scale"):
        make_frontend(SR, 64, "bark")


@pytest.mark.parametrize("Embedder", [COLAEmbedder, ContrastiveAudioEmbedder])
def test_embedder_with_log_scale_fits_and_round_trips(Embedder):
    rng = np.random.default_rng(0)
    X = [_tone(f, harmonics=rng.uniform(0.1, 1, 4)) for f in rng.uniform(100, 800, 8)]
    est = Embedder(
        sample_rate=SR,
        frequency_scale="log",
        segment_seconds=0.25,
        batch_size=4,
        max_epochs=1,
        embedding_dim=64,
        random_state=0,
    ).fit(X)
    assert isinstance(est.net_.module_.frontend, LogFrequencySpectrogram)
    Z = est.transform(X)
    assert Z.shape == (8, 64) and Z.dtype == np.float32
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).transform(X), Z)


def test_pickle_from_before_the_parameter_is_log_mel():
    est = COLAEmbedder(sample_rate=8000)
    state = est.__getstate__()
    del state["frequency_scale"]
    old = COLAEmbedder.__new__(COLAEmbedder)
    old.__setstate__(state)
    assert old.get_params()["frequency_scale"] == "mel"


def test_untrained_cnn_reads_pitch_across_timbres_better_on_the_log_scale():
    """Harmonic tones of 12 semitones, each in 4 timbres (harmonic profiles); a probe
    trained on 3 timbres names the semitone of the 4th. The untrained CNN does so
    better on log-frequency bands, where a semitone is a shift, than on mel bands."""
    rng = np.random.default_rng(0)
    profiles = [rng.uniform(0.05, 1, 6) for _ in range(4)]
    X, y, groups = [], [], []
    for timbre, profile in enumerate(profiles):
        for semitone in range(12):
            for _ in range(3):
                f0 = 110 * 2 ** ((semitone + rng.uniform(-0.1, 0.1)) / 12)
                X.append(_tone(f0, 0.3, harmonics=profile * rng.uniform(0.7, 1.3, 6)))
                y.append(semitone)
                groups.append(timbre)
    scores = {}
    for scale in ("mel", "log"):
        embedder = COLAEmbedder(
            sample_rate=SR,
            frequency_scale=scale,
            segment_seconds=0.3,
            max_epochs=0,
            readout_bands=4,
            embedding_dim=128,
            random_state=0,
        )
        probe = make_pipeline(embedder, StandardScaler(), LogisticRegression(max_iter=500))
        scores[scale] = cross_val_score(probe, X, y, groups=groups, cv=GroupKFold(4)).mean()
    assert scores["log"] > scores["mel"] + 0.1, scores


def test_checkpoints_record_the_scale_only_when_it_is_not_mel(tmp_path):
    """A log-mel run's manifest is the one written before the parameter existed (so
    those checkpoints resume); a log-frequency run's records the scale, so a log-mel
    fit does not resume it."""
    X = [_tone(f) for f in (200.0, 300.0, 400.0, 500.0)]
    settings = dict(sample_rate=SR, segment_seconds=0.25, batch_size=2, max_epochs=1)
    est = COLAEmbedder(**settings, embedding_dim=64, random_state=0)
    clips = as_clips(X, sample_rate=SR)
    assert "frequency_scale" not in est._checkpoint_manifest("fit", clips)
    log = est.set_params(frequency_scale="log")._checkpoint_manifest("fit", clips)
    assert log["frequency_scale"] == "'log'"
