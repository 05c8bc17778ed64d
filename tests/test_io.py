import numpy as np
import pytest
import scipy.sparse

from skaudio.io import check_audio, load_audio_file

SR = 8000


def test_list_of_ragged_float_clips():
    clips = [np.zeros(10), np.ones(25, dtype=np.float32)]
    out = check_audio(clips, sample_rate=SR)
    assert [w.shape for w in out] == [(10,), (25,)]
    assert all(w.dtype == np.float32 and w.flags.c_contiguous for w in out)


def test_2d_array_gives_one_clip_per_row():
    X = np.arange(12, dtype=np.float64).reshape(3, 4) / 12
    out = check_audio(X, sample_rate=SR)
    assert len(out) == 3
    np.testing.assert_allclose(out[1], X[1], rtol=1e-6)


@pytest.mark.parametrize(
    ("dtype", "value", "expected"),
    [(np.int16, -32768, -1.0), (np.int16, 16384, 0.5), (np.int32, 2**30, 0.5), (np.uint8, 0, -1.0)],
)
def test_integer_pcm_is_scaled_to_unit_range(dtype, value, expected):
    (out,) = check_audio([np.full(5, value, dtype=dtype)], sample_rate=SR)
    np.testing.assert_allclose(out, expected)


def test_files_are_read_downmixed_and_resampled(wav_files):
    paths, mono, _ = wav_files
    out = check_audio([str(paths[0]), paths[1], paths[2]], sample_rate=SR)
    np.testing.assert_allclose(out[0], mono, atol=1e-7)
    assert out[1].shape == (4000,)  # 8000 samples at 16 kHz -> 4000 at 8 kHz
    np.testing.assert_allclose(out[2], mono, atol=2 / 32768)  # PCM_16 quantisation


def test_resampling_preserves_a_tone(tmp_path):
    import soundfile as sf

    t = np.arange(16000) / 16000
    sf.write(tmp_path / "tone.wav", np.sin(2 * np.pi * 440 * t).astype(np.float32), 16000)
    wave = load_audio_file(tmp_path / "tone.wav", SR)
    spectrum = np.abs(np.fft.rfft(wave))
    assert np.argmax(spectrum) * SR / len(wave) == pytest.approx(440, abs=2)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        ([], "X is empty"),
        (np.empty((0, 10)), "X is empty"),
        ([np.zeros(5), np.zeros(0)], "clip 1 is empty"),
        (np.empty((3, 0)), "0 feature"),
        ([np.zeros(5), np.array([0.0, np.nan])], "clip 1 contains NaN or infinity .*sample 1"),
        ([np.array([np.inf])], "clip 0 contains NaN or infinity"),
        (np.zeros((2, 3, 4)), r"shape \(2, 3, 4\).*2-D"),
        (np.zeros(16), "Reshape your data"),
        ([np.zeros((2, 8))], r"clip 0 has shape \(2, 8\).*1-D mono"),
        (np.array([np.zeros(3), np.zeros(4)], dtype=object), "object array"),
        ([np.array([1.0, 2.0], dtype=object)], "clip 0 is an object array"),
        ([np.zeros(3, dtype=np.complex64)], "Complex data not supported"),
    ],
)
def test_bad_input_raises_value_error_naming_the_problem(X, match):
    with pytest.raises(ValueError, match=match):
        check_audio(X, sample_rate=SR)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (3.0, "not audio"),
        ({"a": 1}, "not audio"),
        ("clip.wav", "single path"),
        ([{"a": 1}], "clip 0 is a dict"),
        ([np.ones(3, dtype=bool)], "clip 0 has dtype bool"),
        (scipy.sparse.csr_matrix(np.ones((2, 3))), "Sparse data is not supported"),
    ],
)
def test_non_audio_types_raise_type_error(X, match):
    with pytest.raises(TypeError, match=match):
        check_audio(X, sample_rate=SR)


def test_missing_and_corrupt_files_name_the_clip_and_path(tmp_path, wav_files):
    paths, _, _ = wav_files
    missing = tmp_path / "missing.wav"
    with pytest.raises(ValueError, match=r"clip 1: could not read audio file .*missing\.wav"):
        check_audio([paths[0], missing], sample_rate=SR)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00not really a wav file")
    with pytest.raises(ValueError, match=r"clip 0: could not read audio file .*corrupt\.wav"):
        check_audio([corrupt], sample_rate=SR)


def test_empty_file_is_rejected(tmp_path):
    import soundfile as sf

    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(ValueError, match="clip 0: audio file .*holds no samples"):
        check_audio([path], sample_rate=SR)


@pytest.mark.parametrize("rate", [0, -8000])
def test_non_positive_sample_rate_is_rejected(rate):
    with pytest.raises(ValueError, match="sample_rate must be a positive integer"):
        check_audio([np.zeros(4)], sample_rate=rate)
