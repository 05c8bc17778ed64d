"""One data layer: one decoder and resampler, one crop-or-pad, the datasets in one module."""

import numpy as np
import pytest
import soundfile as sf
import soxr

import skaudio.clips
import skaudio.data
import skaudio.training
from skaudio._manifest import differing
from skaudio.clips import ArrayClips, FileClips
from skaudio.io import _resample, check_audio
from skaudio.segments import crop_or_pad


@pytest.mark.parametrize("orig, rate", [(16000, 8000), (44100, 8000), (8000, 22050), (12345, 8000)])
@pytest.mark.parametrize("n", [1, 7, 3001, 70_001])
def test_resample_gives_the_samples_of_librosa_resample(orig, rate, n):
    # librosa.resample's default path, spelled out: soxr's one-shot "soxr_hq", then
    # fix_length to ceil(n * rate / orig) (zero-padded or cut at the end)
    waveform = np.random.default_rng(n).uniform(-0.5, 0.5, n).astype(np.float32)
    expected = soxr.resample(waveform, orig, rate, quality="soxr_hq")
    size = int(np.ceil(n * (float(rate) / orig)))
    expected = np.pad(expected, (0, max(0, size - len(expected))))[:size]
    resampled = _resample(waveform, orig, rate)
    assert resampled.dtype == np.float32
    np.testing.assert_array_equal(resampled, expected)


def test_a_file_streamed_in_small_blocks_is_the_whole_file_resampled(tmp_path, monkeypatch):
    monkeypatch.setattr("skaudio.clips._BLOCK_FRAMES", 1000)
    rng = np.random.default_rng(0)
    path = tmp_path / "stereo.wav"
    sf.write(path, rng.uniform(-0.5, 0.5, (22_051, 2)), 22050, subtype="FLOAT")
    clips = FileClips([path], 8000)
    streamed = np.concatenate(list(clips._stream(0)))
    np.testing.assert_array_equal(streamed, clips[0])  # exactly, not merely close
    assert len(streamed) == clips.lengths[0] == int(np.ceil(22_051 * 8000 / 22050))


def _crop_or_pad_reference(waveform, length, offset):
    if len(waveform) >= length:
        return waveform[offset : offset + length]
    return np.pad(waveform, (offset, length - len(waveform) - offset))


@pytest.mark.parametrize("n", [3, 10, 25])
def test_crop_or_pad_agrees_with_slicing_and_np_pad(n):
    waveform = np.arange(1, n + 1, dtype=np.float32)
    length = 10
    for offset in range(abs(n - length) + 1):
        expected = _crop_or_pad_reference(waveform, length, offset)
        np.testing.assert_array_equal(crop_or_pad(waveform, length, offset), expected)
        out = np.full(length, 7.0, dtype=np.float32)  # stale values are overwritten
        assert crop_or_pad(waveform, length, offset, out=out) is out
        np.testing.assert_array_equal(out, expected)
        clips = ArrayClips([waveform])
        np.testing.assert_array_equal(clips.crop(0, length, offset), expected)


def test_a_crop_of_file_clips_reads_only_its_samples_and_a_short_clip_whole(tmp_path):
    path = tmp_path / "tone.wav"
    sf.write(path, np.linspace(-0.5, 0.5, 800), 8000, subtype="FLOAT")
    clips = FileClips([path], 8000)
    reads = []
    segment, whole = clips.segment, type(clips).__getitem__
    clips.segment = lambda i, a, b: reads.append((a, b)) or segment(i, a, b)
    np.testing.assert_array_equal(clips.crop(0, 100, 300), whole(clips, 0)[300:400])
    assert reads == [(300, 400)]
    padded = clips.crop(0, 1000, 50)
    assert reads == [(300, 400)]  # read whole, not by segment
    np.testing.assert_array_equal(padded[50:850], whole(clips, 0))
    assert not padded[:50].any() and not padded[850:].any()


def test_nan_in_a_file_at_another_rate_is_a_value_error_naming_the_clip(tmp_path):
    # librosa.resample raised its own ParameterError here, naming neither clip nor file
    samples = np.zeros(4000, dtype=np.float32)
    samples[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match=r"clip 0 .*nan\.wav.* NaN or infinity"):
        check_audio([path], sample_rate=8000)
    with pytest.raises(ValueError, match=r"clip 0 .*nan\.wav.* NaN or infinity"):
        FileClips([path], 8000)[0]


def test_datasets_live_in_one_module_and_old_paths_keep_them():
    assert skaudio.clips.ClipWindows is skaudio.data.ClipWindows
    for name in ("SegmentPairDataset", "WindowDataset", "TokenWindowDataset", "seed_worker"):
        assert getattr(skaudio.training, name) is getattr(skaudio.data, name)
    with pytest.raises(AttributeError):
        skaudio.clips.NoSuchName


def test_manifest_differences_are_listed_in_the_order_asked():
    recorded = {"format": 1, "folder": "a", "files": ["x"]}
    wanted = {"format": 1, "folder": "b", "files": ["y"], "new": 0}
    assert differing(recorded, wanted) == ["files", "folder", "new"]
    assert differing(recorded, wanted, ("folder", "format", "files")) == ["folder", "files"]
