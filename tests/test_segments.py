import numpy as np
import pytest

from skaudio.segments import random_segment, sliding_windows


def test_random_segment_of_long_clip_is_a_contiguous_crop():
    wave = np.arange(100, dtype=np.float32)
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(50):
        seg = random_segment(wave, 30, rng)
        assert seg.shape == (30,)
        np.testing.assert_array_equal(np.diff(seg), 1)
        starts.add(seg[0])
    assert len(starts) > 10 and min(starts) >= 0 and max(starts) <= 70


def test_random_segment_of_short_clip_pads_at_random_offsets():
    wave = np.ones(10, dtype=np.float32)
    rng = np.random.default_rng(0)
    offsets = set()
    for _ in range(50):
        seg = random_segment(wave, 30, rng)
        assert seg.shape == (30,) and seg.sum() == 10
        offsets.add(int(np.argmax(seg)))
    assert len(offsets) > 5


@pytest.mark.parametrize("n", [1, 10, 29, 30])
def test_short_clip_is_centred_in_one_window(n):
    windows = sliding_windows(np.ones(n, dtype=np.float32), 30)
    assert windows.shape == (1, 30)
    start = (30 - n) // 2
    assert windows[0, start : start + n].sum() == n and windows.sum() == n


def test_long_clip_windows_cover_every_sample():
    wave = np.arange(75, dtype=np.float32)
    windows = sliding_windows(wave, 30)
    assert windows.shape == (3, 30)
    np.testing.assert_array_equal(windows[:, 0], [0, 30, 45])
    assert set(windows.ravel().tolist()) == set(wave.tolist())
    assert sliding_windows(wave, 30, hop=15).shape == (4, 30)
