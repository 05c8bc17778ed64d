"""CPC_audio's per-frame channel normalisation (``ChannelNorm``, ``encoder_norm="channel"``)."""

import math
import pickle

import numpy as np
import pytest
import torch
from conftest import CPC_TINY
from sklearn.base import clone

from skaudio import CPCEmbedder
from skaudio._compat import InvalidParameterError
from skaudio.clips import as_clips
from skaudio.encoders import ChannelNorm, CPCWaveformEncoder
from skaudio.layers import convert_sync_batchnorm


def _reference_channel_norm(x, weight, bias, eps):
    """Each (clip, time step) by hand: its channels minus their mean, over their std."""
    out = torch.empty_like(x)
    n_channels = x.shape[1]
    for b in range(x.shape[0]):
        for t in range(x.shape[2]):
            column = [float(v) for v in x[b, :, t]]
            mean = sum(column) / n_channels
            var = sum((v - mean) ** 2 for v in column) / (n_channels - 1)
            for c in range(n_channels):
                scaled = (column[c] - mean) / math.sqrt(var + eps)
                out[b, c, t] = scaled * float(weight[c]) + float(bias[c])
    return out


# -- the module ---------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_channel_norm_is_the_per_frame_normalisation_over_channels(eps):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, generator=g) * 4 + 2
    x[1, :, 2] = 7.0  # a constant frame: its variance is 0, only eps keeps it finite
    norm = ChannelNorm(5, eps=eps)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(5, generator=g))
        norm.bias.copy_(torch.randn(5, generator=g))
    expected = _reference_channel_norm(x, norm.weight.detach(), norm.bias.detach(), eps)
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)
    assert [name for name, _ in norm.named_parameters()] == ["weight", "bias"]
    assert not list(norm.buffers())  # no running statistics


def test_channel_norm_starts_as_the_identity_affine_map():
    norm = ChannelNorm(6)
    assert torch.equal(norm.weight, torch.ones(6)) and torch.equal(norm.bias, torch.zeros(6))
    assert norm.eps == 1e-5


def test_a_clips_frames_do_not_depend_on_the_rest_of_its_batch_in_training():
    g = torch.Generator().manual_seed(0)
    clip, others = torch.randn(1, 1, 800, generator=g), torch.randn(3, 1, 800, generator=g)
    outputs = {}
    for norm in ("batch", "channel"):
        torch.manual_seed(0)
        encoder = CPCWaveformEncoder(embedding_dim=16, hidden=16, norm=norm).train()
        alone = encoder.forward_frames(clip)[0]
        in_batch = encoder.forward_frames(torch.cat([clip, others]))[0]
        in_other_batch = encoder.forward_frames(torch.cat([others[:1] * 5, clip]))[1]
        outputs[norm] = (alone, in_batch, in_other_batch)
    alone, in_batch, in_other_batch = outputs["channel"]
    torch.testing.assert_close(in_batch, alone, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(in_other_batch, alone, rtol=1e-5, atol=1e-6)
    alone, in_batch, _ = outputs["batch"]  # batch norm's statistics are the batch's
    assert not torch.allclose(in_batch, alone, rtol=1e-2, atol=1e-3)


def test_convert_sync_batchnorm_leaves_channel_norm_alone():
    encoder = CPCWaveformEncoder(embedding_dim=16, hidden=16, norm="channel")
    before = [type(m) for m in encoder.modules()]
    converted = convert_sync_batchnorm(encoder, device="cpu")
    assert [type(m) for m in converted.modules()] == before
    assert sum(isinstance(m, ChannelNorm) for m in converted.modules()) == 5


# -- the encoder --------------------------------------------------------------------------


def test_the_batch_norm_encoder_is_the_default_and_channel_norm_keeps_the_other_weights():
    torch.manual_seed(0)
    default = CPCWaveformEncoder(embedding_dim=16, hidden=16)
    torch.manual_seed(0)
    batch = CPCWaveformEncoder(embedding_dim=16, hidden=16, norm="batch")
    torch.manual_seed(0)
    channel = CPCWaveformEncoder(embedding_dim=16, hidden=16, norm="channel")
    x = torch.randn(2, 1, 700)
    assert torch.equal(default.forward_frames(x), batch.forward_frames(x))
    plain, channel_state = default.state_dict(), channel.state_dict()
    assert list(batch.state_dict()) == list(plain)
    running = ("running_mean", "running_var", "num_batches_tracked")
    assert list(channel_state) == [k for k in plain if not k.endswith(running)]
    for key, value in channel_state.items():  # same names, same init, same draws
        assert torch.equal(value, plain[key]), key
    with pytest.raises(ValueError, match="unknown norm 'layer'"):
        CPCWaveformEncoder(norm="layer")


# -- the estimator ------------------------------------------------------------------------


def test_the_default_embedder_is_the_batch_norm_one_bit_for_bit(cpc_clips):
    default = CPCEmbedder(**CPC_TINY).fit(cpc_clips)
    batch = CPCEmbedder(**CPC_TINY, encoder_norm="batch").fit(cpc_clips)
    assert default.encoder_norm == "batch"
    assert np.array_equal(default.transform(cpc_clips), batch.transform(cpc_clips))
    assert default.history_[:, "train_loss"] == batch.history_[:, "train_loss"]
    assert default.history_[:, "train_loss"] == pytest.approx(  # test_cpc_negatives' record
        [2.060467481613159, 2.0755462646484375], rel=1e-5
    )


def test_a_channel_norm_fit_trains(cpc_clips):
    settings = {**CPC_TINY, "z_dim": 16, "c_dim": 16, "encoder_width": 16, "max_epochs": 3}
    # seen: 2.073, 2.059, 2.008 (at lr=1e-2 it stays near chance, ln 8, for 4 epochs)
    est = CPCEmbedder(**{**settings, "lr": 3e-3}, encoder_norm="channel").fit(cpc_clips)
    encoder = est.net_.module_.encoder
    assert sum(isinstance(m, ChannelNorm) for m in encoder.modules()) == 5
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in encoder.modules())
    loss = est.history_[:, "train_loss"]
    assert all(math.isfinite(v) for v in loss)
    assert loss[0] > loss[1] > loss[2] and loss[2] < loss[0] - 0.03
    embeddings = est.transform(cpc_clips[:4])
    assert embeddings.shape == (4, 16) and np.isfinite(embeddings).all()


def test_clone_and_pickle_keep_the_channel_norm(cpc_clips):
    est = CPCEmbedder(**{**CPC_TINY, "max_epochs": 1}, encoder_norm="channel").fit(cpc_clips)
    assert clone(est).get_params()["encoder_norm"] == "channel"
    restored = pickle.loads(pickle.dumps(est))
    assert restored.encoder_norm == "channel"
    assert np.array_equal(restored.transform(cpc_clips[:3]), est.transform(cpc_clips[:3]))


def test_a_pickle_from_before_encoder_norm_reads_as_batch_norm():
    state = CPCEmbedder(**CPC_TINY).__getstate__()
    del state["encoder_norm"]
    old = CPCEmbedder.__new__(CPCEmbedder)
    old.__setstate__(state)
    assert old.get_params()["encoder_norm"] == "batch"


@pytest.mark.parametrize(
    "settings",
    [
        {"encoder": "resnet18"},
        {"input_representation": "logmel", "encoder": "cpc"},
    ],
)
def test_channel_norm_needs_the_raw_cpc_encoder(cpc_clips, settings):
    with pytest.raises(ValueError, match="encoder_norm='channel' needs the raw-audio CPC"):
        CPCEmbedder(**CPC_TINY, **settings, encoder_norm="channel").fit(cpc_clips)


def test_an_unknown_encoder_norm_is_refused(cpc_clips):
    with pytest.raises(InvalidParameterError, match="encoder_norm"):
        CPCEmbedder(**CPC_TINY, encoder_norm="layer").fit(cpc_clips)


def test_checkpoints_record_encoder_norm_only_when_it_is_not_batch_norm(cpc_clips, tmp_path):
    audio = as_clips(cpc_clips, sample_rate=8000)
    plain = CPCEmbedder(**CPC_TINY)._checkpoint_manifest("model", audio)
    batch = CPCEmbedder(**CPC_TINY, encoder_norm="batch")._checkpoint_manifest("model", audio)
    channel = CPCEmbedder(**CPC_TINY, encoder_norm="channel")._checkpoint_manifest("model", audio)
    assert "encoder_norm" not in plain and batch == plain  # checkpoints of before resume
    assert channel == {**plain, "encoder_norm": "'channel'"}
    CPCEmbedder(**{**CPC_TINY, "max_epochs": 1}, checkpoint_dir=tmp_path).fit(cpc_clips)
    with pytest.raises(ValueError, match="encoder_norm"):
        CPCEmbedder(**CPC_TINY, encoder_norm="channel", checkpoint_dir=tmp_path).fit(cpc_clips)
