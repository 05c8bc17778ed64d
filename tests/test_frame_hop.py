"""Frame embeddings at a hop of at most 50 ms: shifted encoder passes, interleaved."""

import math

import numpy as np
import pytest
import torch
from conftest import SMALL
from torch import nn

from skaudio import COLAEmbedder
from skaudio.encoders import (
    CNNEncoder,
    CPCWaveformEncoder,
    EfficientNetB0Encoder,
    PatchAutoencoder,
    ResNet18Encoder,
    ResNet18WaveformEncoder,
    VGGEncoder,
)
from skaudio.features import LogMelSpectrogram
from skaudio.models import EmbeddingModel

HEAR_RATES = [16000, 22050, 44100, 48000]


def _model(encoder, sample_rate=8000, n_mels=16, **frontend):
    frontend = LogMelSpectrogram(sample_rate, n_mels=n_mels, **frontend)
    return EmbeddingModel(frontend, encoder).eval()


# -- the hop ---------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", [8000, *HEAR_RATES])
@pytest.mark.parametrize(
    ("make", "factor"),
    [
        (lambda: CNNEncoder(16, 8), 4),  # 16 frames of 10 ms: 160 ms -> 40 ms
        (lambda: VGGEncoder(16, 8, channels=(4, 4, 4)), 4),
        (lambda: ResNet18Encoder(16, 8), 8),  # 320 ms -> 40 ms
        (lambda: EfficientNetB0Encoder(16, 8), 8),
        (lambda: CNNEncoder(16, 8, channels=(4,)), 1),  # 40 ms already
        (lambda: PatchAutoencoder(16, 8, patch_frames=4, hidden=8), 1),
    ],
)
def test_interleave_factor_is_the_smallest_giving_at_most_50_ms(make, factor, sample_rate):
    model = _model(make(), sample_rate)
    assert model.frame_interleave == factor
    assert model.frame_hop * factor == model.encoder_hop
    assert model.frame_hop / sample_rate <= 0.05
    if factor > 1:  # the next coarser hop (half the factor, time strides are powers of 2)
        assert 2 * model.frame_hop / sample_rate > 0.05


def test_waveform_encoders_are_already_fine_enough():
    for encoder in (ResNet18WaveformEncoder(embedding_dim=8), CPCWaveformEncoder(8, hidden=8)):
        model = EmbeddingModel(LogMelSpectrogram(16000, n_mels=16), encoder)
        assert model.frame_interleave == 1 and model.frame_hop == encoder.time_stride


def test_max_frame_hop_seconds_sets_the_factor():
    model = _model(CNNEncoder(16, 8))  # a 160 ms encoder hop at 8 kHz
    model.max_frame_hop_seconds = 0.16
    assert model.frame_interleave == 1 and model.frame_hop == 1280
    model.max_frame_hop_seconds = 0.01
    assert model.frame_interleave == 16 and model.frame_hop == 80  # one log-mel frame
    model.max_frame_hop_seconds = 0.001  # finer than the frontend: one per log-mel frame
    assert model.frame_interleave == 16
    model.max_frame_hop_seconds = None  # the encoder's own frames
    assert model.frame_interleave == 1 and model.frame_hop == model.encoder_hop


def test_factor_must_divide_the_time_stride():
    encoder = CNNEncoder(16, 8, channels=(4,))
    for factor in (0, 3, 8):
        with pytest.raises(ValueError, match="divisor of time_stride=4"):
            encoder.forward_frames_interleaved(torch.zeros(1, 1, 16, 9), factor)


# -- the frames --------------------------------------------------------------------------

INTERLEAVED = [
    (CNNEncoder(16, 8, channels=(4, 4, 4)), 4, 16),
    (VGGEncoder(16, 8, channels=(4, 4)), 2, 16),
    (ResNet18Encoder(8, 8), 8, 8),
    (EfficientNetB0Encoder(8, 8), 8, 8),
    (PatchAutoencoder(16, 8, patch_frames=4, hidden=8), 2, 16),
    (CPCWaveformEncoder(embedding_dim=8, hidden=8), 4, None),  # 160 samples -> 40
]


def _input(n_mels, length, seed=0):
    shape = (2, 1, length) if n_mels is None else (2, 1, n_mels, length)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("encoder", "factor", "n_mels"), INTERLEAVED, ids=[type(e).__name__ for e, _, _ in INTERLEAVED]
)
def test_interleaved_frames_are_the_shifted_passes(encoder, factor, n_mels):
    """Frame i * k + j is frame i of the input without its first j * s / k steps."""
    encoder.eval()
    hop = encoder.time_stride // factor
    for length in (3 * encoder.time_stride, 3 * encoder.time_stride + hop + 1, hop - 1):
        x = _input(n_mels, max(length, 1))
        with torch.no_grad():
            frames = encoder.forward_frames_interleaved(x, factor)
            coarse = encoder.forward_frames(x)
            assert frames.shape == (2, math.ceil(x.shape[-1] / hop), encoder.frame_dim)
            assert torch.equal(frames[:, ::factor], coarse)  # the coarse frames, exactly
            for j in range(1, factor):
                if j * hop < x.shape[-1]:
                    expected = encoder.forward_frames(x[..., j * hop :])
                    torch.testing.assert_close(frames[:, j::factor], expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("encoder", "factor", "n_mels", "field"),
    [
        (CNNEncoder(16, 8, channels=(4, 4, 4)), 4, 16, 48),
        (ResNet18Encoder(8, 8), 8, 8, 448),
    ],
    ids=["cnn", "resnet18"],
)
def test_interleaved_frames_are_the_network_at_the_finer_hop(encoder, factor, n_mels, field):
    """Away from the edges, delaying the input by one fine hop delays the frames by one."""
    encoder.eval()
    hop = encoder.time_stride // factor
    x = _input(n_mels, 2 * field + 8 * encoder.time_stride, seed=1)
    with torch.no_grad():
        frames = encoder.forward_frames_interleaved(x, factor)
        delayed = encoder.forward_frames_interleaved(x[..., hop:], factor)
    # frames whose receptive field (at most `field` steps wide) misses both edges
    interior = slice(field // hop, (x.shape[-1] - field) // hop)
    n_interior = interior.stop - interior.start
    assert n_interior >= 2 * factor
    torch.testing.assert_close(delayed[:, interior], frames[:, 1:][:, interior])
    # the coarse frames are not equivariant to a fine shift: the test can tell
    assert not torch.allclose(frames[:, :-1][:, interior], frames[:, 1:][:, interior], atol=1e-3)


# -- the time stamps ---------------------------------------------------------------------


def _box_filters(encoder):
    """Every convolution an average over its kernel, every batch norm +100: a network
    whose response to a click is a symmetric bump (ReLUs all pass, max-pools keep it)."""
    for module in encoder.modules():
        if isinstance(module, nn.Conv1d | nn.Conv2d):
            nn.init.constant_(module.weight, 1.0 / module.weight[0].numel())
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            nn.init.ones_(module.weight)
            nn.init.constant_(module.bias, 100.0)
    return encoder


def _efficientnet_trunk():
    encoder = EfficientNetB0Encoder(8, 8)
    encoder.head = nn.Identity()  # acts on each frame alone; LayerNorm would erase the bump
    return encoder


@pytest.mark.slow
@pytest.mark.parametrize(
    ("make", "n_mels", "seconds"),
    [
        (lambda: CNNEncoder(16, 8, channels=(4, 4, 4)), 16, 3.0),
        (lambda: VGGEncoder(16, 8, channels=(4, 4)), 16, 3.0),
        (lambda: ResNet18Encoder(8, 8), 8, 4.0),
        (_efficientnet_trunk, 8, 4.0),
        (lambda: ResNet18WaveformEncoder(embedding_dim=8), 16, 3.0),
    ],
    ids=["cnn", "vgg", "resnet18", "efficientnet_b0", "resnet18_waveform"],
)
@pytest.mark.parametrize("dense", [True, False], ids=["dense", "coarse"])
def test_a_click_peaks_in_the_frame_stamped_nearest_to_it(make, n_mels, seconds, dense):
    sr = 8000
    model = _model(_box_filters(make()), sr, n_mels, top_db=None).double()
    if not dense:
        model.max_frame_hop_seconds = 1.0  # the encoder's own frames
    hop = model.frame_hop / sr
    clicks = np.random.default_rng(0).uniform(0.4 * seconds, 0.6 * seconds, 3)
    waveforms = torch.zeros(len(clicks) + 1, int(seconds * sr), dtype=torch.float64)
    for row, t in enumerate(clicks):
        waveforms[row, round(t * sr)] = 1.0  # the last row stays silent
    with torch.no_grad():
        frames = model.embed_frames(waveforms)
    responses = (frames[:-1] - frames[-1:]).abs().sum(dim=-1).numpy()
    times = model.frame_times(frames.shape[1])
    for t, response in zip(clicks, responses, strict=True):
        peak = np.flatnonzero(response >= response.max() * (1 - 1e-9))  # max-pools tie
        assert np.argmin(np.abs(times - t)) in peak
        centre = (response * times).sum() / response.sum()
        assert abs(centre - t) < 0.3 * hop


def test_frame_times_of_the_coarse_frames_are_unchanged_for_the_cnn():
    model = _model(CNNEncoder(16, 8))
    times = model.frame_times(12)
    np.testing.assert_allclose(np.diff(times), 0.04)
    old = (np.arange(3) * 16 + 7.5) * 80 / 8000  # frame j pools log-mel frames 16 j..16 j + 15
    np.testing.assert_allclose(times[::4], old)


# -- the estimators ----------------------------------------------------------------------


def test_transform_frames_are_dense_and_transform_is_unchanged(tones):
    X, _ = tones
    est = COLAEmbedder(**{**SMALL, "max_epochs": 0}).fit(X[:8])
    model = est.net_.module_
    assert model.frame_interleave == 4 and model.frame_hop / est.sample_rate == 0.04
    clip = X[0][: est.segment_length_]
    (frames,), (times,) = est.transform_frames([clip])
    np.testing.assert_allclose(np.diff(times), 0.04)
    wave = torch.from_numpy(clip)[None]
    with torch.no_grad():
        model.eval()  # as transform_frames embeds
        coarse = model.encoder.forward_frames(model.spectrogram(wave))[0].numpy()
        clip_embedding = model.embed(wave)[0].numpy()
    np.testing.assert_array_equal(frames[::4], coarse)
    np.testing.assert_allclose(est.transform([clip])[0], clip_embedding, rtol=1e-6, atol=1e-7)
    pooled = np.concatenate([frames[::4].mean(axis=0), frames[::4].max(axis=0)])
    np.testing.assert_allclose(est.transform([clip])[0], pooled, rtol=1e-5, atol=1e-6)
