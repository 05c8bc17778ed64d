import pytest
import torch

from skaudio.encoders import ENCODERS, CNNEncoder, make_encoder


@pytest.mark.parametrize("n_frames", [1, 7, 101])
def test_cnn_shapes_for_any_length(n_frames):
    encoder = CNNEncoder(n_mels=64, embedding_dim=24, channels=(4, 8)).eval()
    x = torch.randn(3, 1, 64, n_frames)
    frames = encoder.forward_frames(x)
    assert encoder.time_stride == 8
    assert frames.shape == (3, -(-n_frames // encoder.time_stride), 12)
    assert encoder(x).shape == (3, 24)


def test_clip_embedding_pools_frames_over_time():
    encoder = CNNEncoder(n_mels=16, embedding_dim=8, channels=(4,)).eval()
    x = torch.randn(2, 1, 16, 40)
    frames = encoder.forward_frames(x)
    expected = torch.cat([frames.mean(1), frames.amax(1)], dim=1)
    torch.testing.assert_close(encoder(x), expected)


def test_default_architecture_and_odd_embedding_dim():
    encoder = CNNEncoder(n_mels=64)
    widths = [block[0].out_channels for block in encoder.blocks]
    assert widths == [32, 64, 128, 256] and encoder.frame_dim == 256
    with pytest.raises(ValueError, match="must be even"):
        CNNEncoder(n_mels=64, embedding_dim=7)


def test_registry_builds_by_name_and_rejects_unknown_names():
    assert isinstance(make_encoder("cnn", n_mels=32, embedding_dim=16), ENCODERS["cnn"])
    with pytest.raises(ValueError, match="unknown encoder 'nope'"):
        make_encoder("nope", n_mels=32, embedding_dim=16)
