"""The frequency-keeping readout of the CNN encoders (``readout_bands``)."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skaudio import COLAEmbedder, ContrastiveAudioEmbedder
from skaudio.datasets import make_tones
from skaudio.encoders import CNNEncoder, VGGEncoder, make_encoder

SMALL = dict(
    sample_rate=8000,
    segment_seconds=0.25,
    n_mels=32,
    embedding_dim=16,
    projection_dim=8,
    batch_size=8,
    max_epochs=1,
    random_state=0,
)


def _x(n_mels=32, n_frames=40):
    return torch.randn(3, 1, n_mels, n_frames, generator=torch.Generator().manual_seed(0))


def test_one_band_is_the_frequency_average_as_before():
    torch.manual_seed(0)
    default = CNNEncoder(n_mels=32, embedding_dim=16).eval()
    torch.manual_seed(0)
    one_band = CNNEncoder(n_mels=32, embedding_dim=16, readout_bands=1).eval()
    with torch.no_grad():
        assert torch.equal(default(_x()), one_band(_x()))


@pytest.mark.parametrize("cls", [CNNEncoder, VGGEncoder])
def test_bands_are_the_channel_means_over_each_frequency_band(cls):
    encoder = cls(n_mels=32, embedding_dim=16, channels=(4, 4), readout_bands=2).eval()
    with torch.no_grad():
        frames = encoder.forward_frames(_x())
        h = encoder.blocks(_x())  # (batch, channels, n_freq, n_frames)
    n_channels, n_freq = h.shape[1], h.shape[2]
    assert n_channels == 16 // 2 // 2 and frames.shape == (3, h.shape[3], encoder.frame_dim)
    half = n_freq // 2
    low, high = h[:, :, :half].mean(dim=2), h[:, :, half:].mean(dim=2)  # (batch, C, frames)
    expected = torch.stack([low, high], dim=2).flatten(1, 2).transpose(1, 2)  # channel-major
    torch.testing.assert_close(frames, expected)
    assert encoder(_x()).shape == (3, 16)


def test_bands_keep_where_in_frequency_the_energy_is():
    # convolutions are shift-equivariant: averaged over frequency, a tone low or high
    # in the spectrogram gives nearly the same frame; the bands tell them apart
    torch.manual_seed(0)
    encoder = CNNEncoder(n_mels=32, embedding_dim=16, channels=(4, 4), readout_bands=4).eval()
    low, high = torch.full((1, 1, 32, 24), -1.0), torch.full((1, 1, 32, 24), -1.0)
    low[..., 6, :], high[..., 25, :] = 1.0, 1.0
    with torch.no_grad():
        bands = [encoder.forward_frames(x).mean(dim=1).view(-1, 4) for x in (low, high)]
    averaged = [b.mean(dim=1) for b in bands]  # what readout_bands=1 would keep
    assert (bands[0] - bands[1]).norm() > 2 * (averaged[0] - averaged[1]).norm()  # 3.5 here


def test_readout_bands_are_validated():
    with pytest.raises(ValueError, match="divisor of embedding_dim / 2 = 8"):
        CNNEncoder(n_mels=32, embedding_dim=16, readout_bands=3)
    with pytest.raises(ValueError, match="more than the 2 frequency rows"):
        CNNEncoder(n_mels=32, embedding_dim=16, readout_bands=4)  # 32 mels / 16
    with pytest.raises(ValueError, match="needs the 'cnn' or 'vgg' encoder"):
        make_encoder("resnet18", n_mels=32, embedding_dim=16, readout_bands=2)
    assert make_encoder("vgg", n_mels=32, embedding_dim=16, readout_bands=2).readout_bands == 2


@pytest.mark.parametrize("cls", [COLAEmbedder, ContrastiveAudioEmbedder])
def test_embedders_take_readout_bands(cls):
    X, _ = make_tones(n_clips=16, n_classes=4, sample_rate=8000, random_state=0)
    embedder = cls(**SMALL, readout_bands=2).fit(X)
    Z = embedder.transform(X)
    assert Z.shape == (16, 16) and Z.dtype == np.float32
    assert embedder.net_.module_.encoder.readout_bands == 2
    assert clone(embedder).get_params()["readout_bands"] == 2
    one_band = cls(**SMALL, readout_bands=1).fit(X)
    assert one_band.readout_bands_ == 1 and embedder.readout_bands_ == 2
    assert not np.allclose(one_band.transform(X), Z)
    with pytest.raises(ValueError, match="readout_bands=3"):
        cls(**SMALL, readout_bands=3).fit(X)
