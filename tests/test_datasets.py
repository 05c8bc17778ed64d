import numpy as np
import pytest
import soundfile as sf

from skaudio.datasets import load_spoken_digits, make_tones


@pytest.fixture(scope="module")
def digits():
    return load_spoken_digits()


def test_spoken_digits_bunch(digits):
    assert len(digits.data) == len(digits.target) == len(digits.groups) == 3000
    assert digits.sample_rate == 8000
    assert sorted(set(digits.target.tolist())) == list(range(10))
    assert sorted(set(digits.groups)) == [
        "george",
        "jackson",
        "lucas",
        "nicolas",
        "theo",
        "yweweler",
    ]
    assert all(w.dtype == np.float32 and w.ndim == 1 for w in digits.data[:20])
    assert "CC BY-SA 4.0" in digits.DESCR


def test_spoken_digits_paths_match_waveforms(digits):
    paths = load_spoken_digits(return_paths=True)
    assert len(paths.data) == len(digits.data)
    assert all(isinstance(p, str) and p.endswith(".flac") for p in paths.data)
    assert list(paths.data) == list(digits.filenames) == list(paths.filenames)
    np.testing.assert_array_equal(paths.target, digits.target)
    np.testing.assert_array_equal(paths.groups, digits.groups)
    for i in range(0, len(paths.data), 97):  # 31 files, every speaker and digit
        audio, rate = sf.read(paths.data[i], dtype="float32")
        assert rate == digits.sample_rate
        np.testing.assert_array_equal(audio, digits.data[i])
    # the path of clip i is the file of clip i, not merely some file: lengths line up
    lengths = [sf.info(p).frames for p in paths.data]
    assert lengths == [len(w) for w in digits.data]


def test_make_tones_is_deterministic_balanced_and_ragged():
    X1, y1 = make_tones(n_clips=30, n_classes=3, sample_rate=8000, random_state=0)
    X2, _ = make_tones(n_clips=30, n_classes=3, sample_rate=8000, random_state=0)
    assert all(np.array_equal(a, b) for a, b in zip(X1, X2, strict=True))
    np.testing.assert_array_equal(np.bincount(y1), [10, 10, 10])
    assert len({len(x) for x in X1}) > 1
    assert all(np.abs(x).max() <= 1.2 for x in X1)


def test_make_tones_pitch_is_inside_the_class_band():
    sr = 8000
    X, y = make_tones(n_clips=12, n_classes=3, sample_rate=sr, noise_level=0.0, random_state=0)
    edges = np.geomspace(150, 600, 4)
    for x, label in zip(X, y, strict=True):
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=8 * len(x)))
        freqs = np.fft.rfftfreq(8 * len(x), 1 / sr)
        peaks = freqs[spectrum > 0.3 * spectrum.max()]
        # the fundamental is the lowest strong peak (harmonics may be stronger)
        assert edges[label] <= peaks.min() <= edges[label + 1]
