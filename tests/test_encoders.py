import numpy as np
import pytest
import torch

from skaudio.encoders import (
    ENCODERS,
    CNNEncoder,
    EfficientNetB0Encoder,
    FrameEncoder,
    ResNet18Encoder,
    ResNet18WaveformEncoder,
    VGGEncoder,
    make_encoder,
)

LOGMEL_ENCODERS = [
    CNNEncoder(n_mels=64, embedding_dim=24, channels=(4, 8)),
    VGGEncoder(n_mels=64, embedding_dim=24, channels=(4, 8)),
    ResNet18Encoder(n_mels=64, embedding_dim=24),
    EfficientNetB0Encoder(n_mels=64, embedding_dim=24),
]


@pytest.mark.parametrize("encoder", LOGMEL_ENCODERS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("n_frames", [1, 7, 101])
def test_logmel_encoders_shapes_for_any_length(encoder, n_frames):
    encoder.eval()
    x = torch.randn(3, 1, 64, n_frames)
    frames = encoder.forward_frames(x)
    assert frames.shape[0] == 3 and frames.shape[2] == 12
    assert frames.shape[1] == pytest.approx(n_frames / encoder.time_stride, abs=1)
    assert encoder(x).shape == (3, 24)


@pytest.mark.parametrize("n_samples", [1, 500, 8000])
def test_waveform_resnet_shapes_for_any_length(n_samples):
    encoder = ResNet18WaveformEncoder(embedding_dim=16).eval()
    frames = encoder.forward_frames(torch.randn(2, 1, n_samples))
    assert frames.shape[0] == 2 and frames.shape[2] == 8
    assert frames.shape[1] == pytest.approx(max(n_samples, 80) / encoder.time_stride, abs=1)
    assert encoder(torch.randn(2, 1, n_samples)).shape == (2, 16)
    assert encoder.input_representation == "waveform"


def _mean_and_max_reference(frames: np.ndarray) -> np.ndarray:
    """(n_frames, frame_dim) -> [mean over time, max over time], one frame at a time."""
    total = np.zeros(frames.shape[1], dtype=np.float64)
    top = np.full(frames.shape[1], -np.inf)
    for frame in frames:
        total += frame
        top = np.maximum(top, frame)
    return np.concatenate([total / len(frames), top])


def test_pooling_is_mean_then_max_over_time_of_each_clip():
    """Hand-computed: frames known exactly, each clip pooled over its own frames only."""

    class FixedFrames(FrameEncoder):
        def forward_frames(self, x):  # clip b, frame t, channel c: x[b, 0, c, t]
            return x[:, 0].transpose(1, 2)

    x = torch.tensor(
        [[[[1.0, 3.0, -2.0], [4.0, 0.0, 5.0]]], [[[0.0, 0.0, 9.0], [-1.0, -3.0, -2.0]]]]
    )
    expected = [[2 / 3, 3.0, 3.0, 5.0], [3.0, -2.0, 9.0, -1.0]]
    torch.testing.assert_close(FixedFrames(embedding_dim=4)(x), torch.tensor(expected))


@pytest.mark.parametrize("encoder", LOGMEL_ENCODERS, ids=lambda e: type(e).__name__)
def test_clip_embedding_is_mean_and_max_of_frames(encoder):
    encoder.eval()
    x = torch.randn(2, 1, 64, 40, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        frames = encoder.forward_frames(x).double().numpy()
        embedding = encoder(x)
    assert frames.shape[1] > 1  # several frames: mean and max differ
    assert embedding.shape == (2, encoder.embedding_dim)
    for clip, clip_frames in zip(embedding.double().numpy(), frames, strict=True):
        np.testing.assert_allclose(clip, _mean_and_max_reference(clip_frames), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_resnet_learns_a_simple_discrimination():
    """A few optimiser steps separate two classes of inputs (gradients flow)."""
    torch.manual_seed(0)
    encoder = ResNet18Encoder(n_mels=16, embedding_dim=8)
    head = torch.nn.Linear(8, 2)
    x = torch.randn(16, 1, 16, 20)
    x[8:] += 1.0
    y = torch.tensor([0] * 8 + [1] * 8)
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(head(encoder(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_default_cnn_architecture_and_odd_embedding_dim():
    encoder = CNNEncoder(n_mels=64)
    widths = [block[0].out_channels for block in encoder.blocks]
    assert widths == [32, 64, 128, 256] and encoder.frame_dim == 256
    with pytest.raises(ValueError, match="must be even"):
        CNNEncoder(n_mels=64, embedding_dim=7)


def test_registry_builds_by_name_and_rejects_unknown_combinations():
    assert isinstance(make_encoder("vgg", n_mels=32, embedding_dim=16), VGGEncoder)
    raw = make_encoder("resnet18", n_mels=32, embedding_dim=16, input_representation="waveform")
    assert isinstance(raw, ResNet18WaveformEncoder)
    assert set(ENCODERS) == {"logmel", "waveform"}
    with pytest.raises(ValueError, match="unknown encoder 'nope' for logmel input"):
        make_encoder("nope", n_mels=32, embedding_dim=16)
    with pytest.raises(ValueError, match="unknown encoder 'cnn' for waveform input"):
        make_encoder("cnn", n_mels=32, embedding_dim=16, input_representation="waveform")
    with pytest.raises(ValueError, match="unknown input_representation"):
        make_encoder("cnn", n_mels=32, embedding_dim=16, input_representation="mfcc")


def test_efficientnet_b0_architecture():
    encoder = EfficientNetB0Encoder(n_mels=64)
    assert encoder.embedding_dim == 1024 and encoder.frame_dim == 512
    assert encoder.time_stride == 32
    mbconv = [m for m in encoder.modules() if type(m).__name__ == "MBConv"]
    assert len(mbconv) == 16  # the B0 stages: 1 + 2 + 2 + 3 + 3 + 4 + 1 blocks
    trunk = sum(p.numel() for p in encoder.trunk.parameters())
    assert 3.9e6 < trunk < 4.1e6  # B0 without its ImageNet classifier: 4.0M parameters
    encoder.eval()
    frames = encoder.forward_frames(torch.randn(2, 1, 64, 96))
    assert frames.shape == (2, 3, 512)
    assert frames.abs().max() <= 1  # the head ends in tanh
    assert "efficientnet_b0" in ENCODERS["logmel"]
