"""The data path: batched crops, device copies, capped whole-clip batches, HEAR on tensors."""

import os

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader, default_collate

from skaudio.clips import FileClips
from skaudio.data import _non_blocking
from skaudio.training import (
    SegmentPairDataset,
    TokenWindowDataset,
    WindowDataset,
    batch_to_device,
    collate_batch,
    seed_worker,
)

LENGTH = 100


def _clips(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [0.1 * rng.standard_normal(n).astype(np.float32) for n in lengths]


#: shorter than a segment, exactly one (a range of one offset: no draw), longer
LENGTHS = [30, 100, 101, 250, 1, 99, 5000, 100, 6]


def _assert_same_batch(batch, reference):
    assert isinstance(batch, list) and len(batch) == len(reference) == 2
    (inputs, targets), (expected_inputs, expected_targets) = batch, reference
    assert inputs.keys() == expected_inputs.keys()
    for name in inputs:
        assert inputs[name].dtype == expected_inputs[name].dtype, name
        assert torch.equal(inputs[name], expected_inputs[name]), name
    assert targets.dtype == expected_targets.dtype
    assert torch.equal(targets, expected_targets)


def _per_item(dataset, indices):
    return default_collate([dataset[i] for i in indices])


@pytest.mark.parametrize("make", ["pairs", "windows"])
def test_getitems_equals_stacked_getitem_with_the_same_draws(make):
    clips = _clips(LENGTHS)
    targets = np.arange(len(clips)) % 3 - 1

    def dataset(seed):
        rng = np.random.default_rng(seed)
        if make == "pairs":
            return SegmentPairDataset(clips, LENGTH, rng, targets=targets)
        return WindowDataset(clips, LENGTH, rng)

    indices = [3, 0, 6, 6, 1, 8, 2, 4, 5, 7]
    one, batched = dataset(1), dataset(1)
    for _ in range(3):  # consecutive batches go on drawing from the same stream
        _assert_same_batch(collate_batch(batched.__getitems__(indices)), _per_item(one, indices))
    assert one.rng.random() == batched.rng.random()


def test_getitems_of_files_equals_getitem(tmp_path):
    clips = _clips([300, 40, 1000])
    paths = []
    for i, clip in enumerate(clips):
        paths.append(os.fspath(tmp_path / f"{i}.wav"))
        sf.write(paths[-1], clip, 8000, subtype="FLOAT")
    for make in (SegmentPairDataset, WindowDataset):
        one = make(FileClips(paths, 8000), LENGTH, np.random.default_rng(0))
        batched = make(FileClips(paths, 8000), LENGTH, np.random.default_rng(0))
        indices = [2, 1, 0, 1]
        _assert_same_batch(collate_batch(batched.__getitems__(indices)), _per_item(one, indices))


def test_token_windows_getitems_equals_getitem():
    rng = np.random.default_rng(0)
    sequences = [rng.integers(0, 9, n) for n in (0, 1, 2, 7, 30)]
    dataset = TokenWindowDataset(sequences, length=5, pad_id=9)
    indices = rng.permutation(len(dataset)).tolist()
    _assert_same_batch(collate_batch(dataset.__getitems__(indices)), _per_item(dataset, indices))
    # the reference of __getitem__ itself: padded windows at every start
    assert dataset[0][0]["tokens"].tolist() == [9] * 5
    assert [dataset[i][0]["tokens"].tolist()[:3] for i in (1, 2)] == [
        [sequences[1][0], 9, 9],
        [sequences[2][0], sequences[2][1], 9],
    ]


def test_cut_batch_collates_with_torch_default_collate():
    """A plain DataLoader (torch's collate) gets the tensors it got before."""
    clips = _clips(LENGTHS)
    loaders = [
        DataLoader(WindowDataset(clips, LENGTH, np.random.default_rng(0)), batch_size=4, **kw)
        for kw in ({}, {"collate_fn": collate_batch})
    ]
    for default, fast in zip(*loaders, strict=True):
        _assert_same_batch(fast, default)


def test_workers_draw_as_before():
    """Seeded workers cut the same crops through __getitems__ as item by item."""
    clips = _clips([500] * 8)

    def starts(collate_fn):
        torch.manual_seed(0)
        dataset = WindowDataset(clips, LENGTH, np.random.default_rng(0))
        loader = DataLoader(
            dataset, batch_size=2, num_workers=2, worker_init_fn=seed_worker, collate_fn=collate_fn
        )
        return torch.cat([X["window"] for X, _ in loader])

    class ItemByItem(WindowDataset):
        __getitems__ = None  # torch's fetcher then calls __getitem__

    torch.manual_seed(0)
    reference = DataLoader(
        ItemByItem(clips, LENGTH, np.random.default_rng(0)),
        batch_size=2,
        num_workers=2,
        worker_init_fn=seed_worker,
    )
    expected = torch.cat([X["window"] for X, _ in reference])
    assert torch.equal(starts(collate_batch), expected)
    assert len(torch.unique(expected[:, 0])) > 1  # the crops are random


def test_non_blocking_only_on_cuda():
    assert _non_blocking("cuda") and _non_blocking("cuda:1") and _non_blocking(torch.device("cuda"))
    assert not _non_blocking("cpu") and not _non_blocking(None)


def test_batch_to_device_copies_non_blocking_on_cuda_only(monkeypatch):
    calls = []
    original = torch.Tensor.to

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("non_blocking", False))
        return original(self, "cpu")  # no CUDA here: record the call, stay on the CPU

    monkeypatch.setattr(torch.Tensor, "to", spy)
    batch = [
        {"window": np.ones((2, 3), np.float32), "n_valid": torch.tensor([3, 2])},
        torch.ones(2),
    ]
    moved = batch_to_device(batch, "cuda")
    assert calls == [True, True, True]
    assert isinstance(moved[0]["window"], torch.Tensor) and moved[0]["n_valid"].tolist() == [3, 2]
    calls.clear()
    batch_to_device(batch, "cpu")
    assert calls == [False, False, False]
    calls.clear()
    assert batch_to_device(batch, None) is batch and calls == []  # accelerate moves it


# -- training through the net: the same run as item by item -------------------------


def test_net_trains_as_with_items_cut_one_by_one():
    """SelfSupervisedNet's default collate_fn takes the batched fetch: same run, same weights."""
    from skaudio import COLAEmbedder

    class ItemByItem(SegmentPairDataset):
        __getitems__ = None

    X = _clips([1200, 800, 3000, 2000, 1000, 500, 2500, 1500], seed=1)
    params = dict(sample_rate=8000, segment_seconds=0.125, n_mels=16, embedding_dim=16)
    params |= dict(encoder="cnn", projection_dim=8, batch_size=4, max_epochs=1, random_state=0)
    fast = COLAEmbedder(**params).fit(X)
    assert fast.net_.iterator_train__collate_fn is collate_batch
    original = SegmentPairDataset.__getitems__
    try:
        SegmentPairDataset.__getitems__ = None  # torch's fetcher: item by item
        slow = COLAEmbedder(**params).fit(X)
    finally:
        SegmentPairDataset.__getitems__ = original
    assert fast.net_.history[:, "train_loss"] == slow.net_.history[:, "train_loss"]
    for (name, a), (_, b) in zip(
        fast.net_.module_.state_dict().items(), slow.net_.module_.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    np.testing.assert_array_equal(fast.transform(X), slow.transform(X))


# -- whole-clip embedding: batches capped by samples ---------------------------------


@pytest.fixture(scope="module")
def cola():
    from skaudio import COLAEmbedder

    X = _clips([2000] * 8, seed=2)
    return COLAEmbedder(
        sample_rate=8000,
        segment_seconds=0.125,
        n_mels=16,
        embedding_dim=16,
        batch_size=4,
        max_epochs=0,
        random_state=0,
    ).fit(X)


def test_whole_clip_batches_are_capped_by_samples(cola, monkeypatch):
    segment = cola.segment_length_
    lengths = np.array(
        [
            segment // 3,
            20 * segment,
            segment,
            2 * segment,
            2 * segment + 1,
            segment + 7,
            2 * segment,
            2 * segment,
            2 * segment,
            3 * segment,
        ]
    )
    batches = list(cola._clip_batches(lengths))
    seen = np.concatenate([indices for indices, _ in batches])
    assert sorted(seen.tolist()) == list(range(len(lengths)))  # every clip, once
    for indices, padded in batches:
        assert (np.maximum(lengths[indices], segment) == padded).all()  # one padded length
        assert len(indices) == 1 or len(indices) * padded <= cola.batch_size * segment
        assert len(indices) <= cola.batch_size
    # four clips of 2 segments: two batches of two (the cap), not one of four
    assert [len(i) for i, n in batches if n == 2 * segment] == [2, 2]

    shapes = []
    frame_sequence = type(cola)._frame_sequence

    def spy(self, model, waveforms):
        shapes.append(tuple(waveforms.shape))
        return frame_sequence(self, model, waveforms)

    monkeypatch.setattr(type(cola), "_frame_sequence", spy)
    X = _clips(lengths.tolist(), seed=3)
    frames, times = cola.transform_frames(X)
    assert all(rows * n <= cola.batch_size * segment or rows == 1 for rows, n in shapes)
    assert (1, 20 * segment) in shapes  # the long clip alone
    for clip, clip_frames, clip_times in zip(X, frames, times, strict=True):
        alone, alone_times = cola.transform_frames([clip])
        np.testing.assert_allclose(clip_frames, alone[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(clip_times, alone_times[0])


def test_whole_clip_embedding_with_the_cap_equals_one_at_a_time():
    from skaudio import CPCEmbedder

    X = _clips([3000, 500, 3000, 9000, 1000, 3000, 3000], seed=4)
    params = dict(sample_rate=8000, segment_seconds=0.125, z_dim=16, c_dim=16, n_predict=2)
    embedder = CPCEmbedder(**params, batch_size=3, max_epochs=0, random_state=0).fit(X)
    batched = embedder.transform(X)
    one_at_a_time = np.concatenate([embedder.transform([clip]) for clip in X])
    np.testing.assert_allclose(batched, one_at_a_time, rtol=1e-5, atol=1e-6)


# -- HEAR: the audio stays on its device ---------------------------------------------


def test_hear_embeds_tensors_without_numpy_audio(cola, monkeypatch):
    from skaudio.hear import HEARModel, get_scene_embeddings, get_timestamp_embeddings

    model = HEARModel(cola)
    rng = np.random.default_rng(5)
    for n_samples in (300, 1000, 2500):  # one window (padded), exactly one, several
        audio = torch.from_numpy(0.1 * rng.standard_normal((5, n_samples)).astype(np.float32))
        expected = cola.transform(list(audio.numpy()))
        expected_frames, seconds = cola.transform_frames(list(audio.numpy()))
        with monkeypatch.context() as patch:
            patch.setattr(HEARModel, "_numpy_clips", lambda self, a: pytest.fail("host copy"))
            scene = get_scene_embeddings(audio, model)
            frames, timestamps = get_timestamp_embeddings(audio, model)
        np.testing.assert_array_equal(scene.numpy(), expected)
        n_kept = frames.shape[1]
        np.testing.assert_array_equal(frames.numpy(), np.stack(expected_frames)[:, :n_kept])
        np.testing.assert_allclose(timestamps[0].numpy(), 1000 * seconds[0][:n_kept], rtol=1e-6)
    pcm = (rng.standard_normal((2, 1000)) * 3000).astype(np.int16)
    np.testing.assert_array_equal(
        get_scene_embeddings(torch.from_numpy(pcm), model).numpy(), cola.transform(list(pcm))
    )


def test_hear_hands_loud_or_broken_float_audio_to_transform(cola):
    from skaudio.exceptions import AudioInputWarning
    from skaudio.hear import HEARModel, get_scene_embeddings

    model = HEARModel(cola)
    loud = torch.full((2, 1000), 3.0)
    with pytest.warns(AudioInputWarning, match="peak"):
        scene = get_scene_embeddings(loud, model)
    np.testing.assert_array_equal(scene.numpy(), cola.transform(list(loud.numpy())))
    broken = torch.zeros(2, 1000)
    broken[1, 17] = float("inf")
    with pytest.raises(ValueError, match="clip 1 contains NaN or infinity"):
        get_scene_embeddings(broken, model)


def test_standardise_copies_both_statistics_at_once_to_another_device():
    from skaudio.encoders import PatchAutoencoder

    autoencoder = PatchAutoencoder(n_mels=4, embedding_dim=4, patch_frames=2, hidden=8)
    patches = torch.randn(3, 8)
    autoencoder.set_normalisation(patches)
    expected = (patches - patches.mean()) / patches.std()
    torch.testing.assert_close(autoencoder.standardise(patches), expected)
    elsewhere = autoencoder.standardise(patches.to("meta"))  # stands for a GPU here
    assert elsewhere.device.type == "meta" and elsewhere.shape == patches.shape
