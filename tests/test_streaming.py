"""Audio read on demand: file clips, streamed windows, data-loader workers."""

import numpy as np
import pytest
import soundfile as sf
from conftest import EMBEDDERS, SMALL, SR
from sklearn.base import clone
from torch.utils.data import DataLoader

from skaudio import COLAEmbedder
from skaudio.clips import ArrayClips, ClipWindows, FileClips, as_clips
from skaudio.io import check_audio, load_audio_file
from skaudio.segments import random_segment, sliding_windows


@pytest.fixture
def long_files(tmp_path):
    """Files longer than a read block, at the target rate and at other rates, mono and stereo."""
    rng = np.random.default_rng(1)
    specs = [(SR, 150_001, 1), (44100, 200_003, 2), (16000, 3000, 1), (22050, 90_000, 1)]
    paths = []
    for rate, n, channels in specs:
        path = tmp_path / f"clip_{rate}_{channels}.wav"
        sf.write(path, rng.uniform(-0.5, 0.5, (n, channels)), rate, subtype="FLOAT")
        paths.append(path)
    return paths


def test_file_clips_read_only_headers_and_match_whole_file_reads(long_files):
    clips = FileClips(long_files, SR)
    for index, path in enumerate(long_files):
        whole = load_audio_file(path, SR)
        assert clips.lengths[index] == len(whole)
        np.testing.assert_array_equal(clips[index], whole)
        for start in (0, 1001, len(whole) // 2):
            stop = min(start + 2000, len(whole))
            np.testing.assert_allclose(
                clips.segment(index, start, stop), whole[start:stop], atol=1e-6
            )


@pytest.mark.parametrize("length", [777, 4000, 8000])
def test_streamed_windows_equal_sliding_windows_of_the_whole_file(long_files, length):
    clips = FileClips(long_files, SR)
    for index, path in enumerate(long_files):
        streamed = np.concatenate(list(clips.windows(index, length)))
        expected = sliding_windows(load_audio_file(path, SR), length)
        np.testing.assert_allclose(streamed, expected, atol=1e-6)


def test_a_long_file_is_streamed_in_blocks(long_files):
    clips = FileClips(long_files[:1], SR)  # 150k samples: three read blocks
    blocks = list(clips.windows(0, 2000))
    assert len(blocks) >= 3
    assert max(len(b) for b in blocks) * 2000 < clips.lengths[0]


def test_random_segment_of_clips_draws_like_random_segment():
    waveforms = [np.arange(n, dtype=np.float32) for n in (100, 30)]
    clips = ArrayClips(waveforms)
    for length in (50, 100, 200):
        a, b = np.random.default_rng(3), np.random.default_rng(3)
        for index, waveform in enumerate(waveforms):
            expected = random_segment(waveform, length, a)
            np.testing.assert_array_equal(clips.random_segment(index, length, b), expected)


def test_as_clips_reads_paths_lazily_and_validates_headers(tmp_path, wav_files):
    paths, _, _ = wav_files
    clips = as_clips(paths, sample_rate=SR)
    assert isinstance(clips, FileClips)
    assert not hasattr(clips, "waveforms")  # nothing but headers was read
    assert isinstance(as_clips(np.zeros((2, 10)), sample_rate=SR), ArrayClips)
    missing = tmp_path / "missing.wav"
    with pytest.raises(ValueError, match=r"clip 3: could not read audio file .*missing\.wav"):
        as_clips([*paths, missing], sample_rate=SR)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), SR)
    with pytest.raises(ValueError, match=r"clip 0: .*empty\.wav.* holds no samples"):
        as_clips([empty], sample_rate=SR)
    with pytest.raises(ValueError, match="sample_rate"):
        as_clips(paths, sample_rate=0)


def test_nan_in_a_file_is_reported_with_its_path_when_read(tmp_path):
    """Samples are checked as they are read: by transform always, by fit when a crop hits them."""
    samples = np.zeros(3000, dtype=np.float32)
    samples[1500] = np.nan  # inside every 2000-sample crop
    path = tmp_path / "nan.wav"
    sf.write(path, samples, SR, subtype="FLOAT")
    clips = as_clips([path], sample_rate=SR)
    with pytest.raises(ValueError, match=r"nan\.wav.*NaN or infinity \(first at sample 1500\)"):
        clips[0]
    with pytest.raises(ValueError, match=r"nan\.wav.*NaN or infinity"):
        COLAEmbedder(**SMALL).fit([path])
    fitted = COLAEmbedder(**SMALL).fit(np.zeros((2, 3000)))
    with pytest.raises(ValueError, match=r"nan\.wav.*NaN or infinity"):
        fitted.transform([path])


def test_clip_windows_split_clips_between_workers():
    clips = ArrayClips([np.full(10 * (i + 1), i, np.float32) for i in range(5)])
    dataset = ClipWindows(clips, length=10, batch_size=4)
    loader = DataLoader(dataset, batch_size=None, num_workers=2)
    batches = list(loader)
    assert all(len(owners) == len(windows) <= 4 for owners, windows in batches)
    owners = np.concatenate([o.numpy() for o, _ in batches])
    assert sorted(owners.tolist()) == sorted(i for i in range(5) for _ in range(i + 1))


@pytest.fixture
def tone_files(tmp_path, tones):
    X, _ = tones
    paths = []
    for index, waveform in enumerate(X[:24]):
        path = tmp_path / f"tone_{index:02d}.wav"
        sf.write(path, waveform, SR, subtype="FLOAT")
        paths.append(path)
    return paths


@pytest.mark.parametrize("make_embedder", EMBEDDERS)
def test_fit_and_transform_on_paths_equal_fit_and_transform_on_arrays(make_embedder, tone_files):
    """Files read on demand give exactly the training and embeddings of arrays in memory."""
    arrays = check_audio(tone_files, sample_rate=SR)
    on_files = make_embedder(**SMALL).fit(tone_files)
    on_arrays = make_embedder(**SMALL).fit(arrays)
    np.testing.assert_allclose(
        on_files.transform(tone_files), on_arrays.transform(arrays), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        on_files.history_[:, "train_loss"], on_arrays.history_[:, "train_loss"], rtol=1e-6
    )


@pytest.mark.slow
def test_workers_read_in_parallel_reproducibly(tone_files):
    embedder = COLAEmbedder(**{**SMALL, "max_epochs": 2}, num_workers=2)
    first = embedder.fit(tone_files).transform(tone_files)
    again = clone(embedder).fit(tone_files).transform(tone_files)
    np.testing.assert_array_equal(first, again)
    in_process = clone(embedder).set_params(num_workers=0).fit(tone_files)
    # workers draw their own crops (another stream than in-process loading) ...
    assert not np.allclose(in_process.history_[:, "train_loss"], embedder.history_[:, "train_loss"])
    # ... but embedding does not depend on how files are read
    np.testing.assert_array_equal(embedder.set_params(num_workers=0).transform(tone_files), first)
