import math

import numpy as np
import pytest
import torch

from skaudio import TokenTransformerEmbedder
from skaudio.encoders import PatchAutoencoder
from skaudio.estimators.token_transformer import codebook_statistics
from skaudio.losses import next_token_accuracy, next_token_loss
from skaudio.models import TokenTransformerModel
from skaudio.models.token_transformer import NextTokenTransformer
from skaudio.training import TokenWindowDataset

TINY_TOKENS = dict(
    sample_rate=8000,
    n_mels=16,
    n_tokens=8,
    autoencoder_width=32,
    context_tokens=6,
    batch_size=32,
    max_epochs=2,
    random_state=0,
)


def test_patches_cut_time_and_pad_with_each_clips_floor():
    ae = PatchAutoencoder(n_mels=3, embedding_dim=4, patch_frames=4, hidden=8)
    x = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 1, 3, 10)
    patches = ae.patches(x)  # mean 0, scale 1: raw values
    assert patches.shape == (2, 3, 12)
    torch.testing.assert_close(patches[0, 0], x[0, 0, :, :4].reshape(-1))  # mel-major
    last = patches[1, 2].reshape(3, 4)
    assert (last[:, 2:] == x[1].min()).all()  # padding is clip 1's own floor
    ae.set_normalisation(patches.reshape(-1, 12))
    standardised = ae.patches(x)
    assert abs(float(standardised.mean())) < 0.2
    assert ae.forward_frames(x).shape == (2, 3, 2)


def test_next_token_loss_and_accuracy_ignore_padding():
    logits = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([[1, 4, -1], [0, -1, -1]])
    real = targets >= 0
    expected = -torch.log_softmax(logits, dim=-1)[real].gather(1, targets[real][:, None]).mean()
    torch.testing.assert_close(next_token_loss(logits, targets), expected)
    hits = (logits.argmax(dim=-1) == targets)[real].float().mean()
    torch.testing.assert_close(next_token_accuracy(logits, targets), hits)


def test_transformer_is_causal_and_padding_is_a_token_of_its_own():
    model = NextTokenTransformer(
        6, 8, d_model=8, n_heads=2, n_layers=2, feedforward=16, embedding_dim=4, dropout=0.0
    ).eval()
    tokens = torch.tensor([[1, 2, 3, 4, 5, 0, 1, 2]])
    changed = tokens.clone()
    changed[0, 5:] = 6  # padding after step 5
    a, b = model.representation(tokens), model.representation(changed)
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert model(tokens).shape == (1, 8, 6)


def _model(probability, share):
    from skaudio.features import LogMelSpectrogram

    transformer = NextTokenTransformer(5, 4, 8, 2, 1, 16, 4, dropout=0.0)
    return TokenTransformerModel(
        LogMelSpectrogram(8000, n_mels=8),
        PatchAutoencoder(8, 4, 2, 8),
        transformer,
        corrupt_probability=probability,
        corrupt_share=share,
    )


def test_corruption_replaces_inputs_in_training_only():
    tokens = torch.zeros(64, 5, dtype=torch.long)
    tokens[:, -1] = 5  # a padded last target
    model = _model(1.0, 1.0).train()
    corrupted = model._corrupt(tokens[:, :-1])
    assert (corrupted != 0).float().mean() > 0.6  # 4 of 5 random ids differ from 0
    output = model(tokens)
    assert (output.targets[:, -1] == -1).all() and (output.targets[:, :-1] == 0).all()
    assert torch.equal(_model(0.0, 1.0).train()._corrupt(tokens), tokens)
    assert torch.equal(_model(1.0, 0.0).train()._corrupt(tokens), tokens)


def test_token_windows_start_everywhere_and_pad():
    data = TokenWindowDataset([np.arange(4), np.arange(1)], length=3, pad_id=9)
    windows = [data[i][0]["tokens"].tolist() for i in range(len(data))]
    assert windows == [[0, 1, 2], [1, 2, 3], [2, 3, 9], [0, 9, 9]]


def test_codebook_statistics():
    usage, perplexity = codebook_statistics([np.array([0, 1, 2, 3])], 8)
    assert usage == 0.5 and perplexity == pytest.approx(4.0)
    usage, perplexity = codebook_statistics([np.array([1, 1]), np.array([1])], 4)
    assert usage == 0.25 and perplexity == pytest.approx(1.0)


@pytest.fixture(scope="module")
def fitted(tones):
    X, _ = tones
    return TokenTransformerEmbedder(**TINY_TOKENS).fit(X)


def test_stages_are_exposed(fitted):
    assert fitted.codebook_.shape == (8, 16)
    assert fitted.kmeans_.n_clusters == 8
    assert len(fitted.autoencoder_.history) == 2
    ae_loss = fitted.autoencoder_.history[:, "train_loss"]
    assert ae_loss[-1] < ae_loss[0]
    assert 0 < fitted.codebook_usage_ <= 1 and 1 <= fitted.perplexity_ <= 8
    assert set(fitted.stage_seconds_) == {"autoencoder", "kmeans", "transformer"}
    assert isinstance(fitted.net_.module_, TokenTransformerModel)


def test_tokenize_matches_the_fitted_kmeans(fitted, tones):
    X, _ = tones
    tokens = fitted.tokenize(X[:3])
    model = fitted.net_.module_
    for clip, sequence in zip(X[:3], tokens, strict=True):
        assert sequence.dtype == np.int64 and len(sequence) == math.ceil(len(clip) / 320)
        with torch.inference_mode():
            codes = model.encoder.forward_frames(model.spectrogram(torch.from_numpy(clip)[None]))
        np.testing.assert_array_equal(fitted.kmeans_.predict(codes[0].numpy()), sequence)


def test_training_sees_the_patches_tokenize_gives(fitted):
    # a clip of a whole number of patches (3200 samples: 10 patches of 320) has 41
    # log-mel frames, so a last, 11th patch starting at its end: training and tokenize
    # both keep the 10 that start inside the clip
    from skaudio.clips import as_clips

    clips = as_clips([np.ones(3200, np.float32), np.ones(3000, np.float32)], sample_rate=8000)
    patches = fitted._raw_patches(fitted.net_.module_, clips)
    tokens = fitted.tokenize([clips[0], clips[1]])
    assert [len(p) for p in patches] == [len(t) for t in tokens] == [10, 10]


def test_tokens_mark_when_a_sound_happens(fitted):
    clip = np.zeros(16000, dtype=np.float32)
    clip[8000:9600] = np.random.default_rng(0).standard_normal(1600).astype(np.float32)
    (tokens,) = fitted.tokenize([clip])
    _, (times,) = fitted.transform_frames([clip])
    silent = np.bincount(tokens).argmax()
    sounding = times[tokens != silent]
    assert sounding.min() >= 1.0 - 0.04 and sounding.max() <= 1.2 + 0.04


def test_next_token_accuracy_is_a_share(fitted, tones):
    X, _ = tones
    accuracy = fitted.next_token_accuracy(X[:8])
    assert 0 <= accuracy <= 1
    assert fitted.history_[-1, "train_pretext_acc"] >= 0


def test_too_few_patches_is_a_clear_error():
    with pytest.raises(ValueError, match="fewer than n_tokens"):
        TokenTransformerEmbedder(**{**TINY_TOKENS, "n_tokens": 64}).fit([np.zeros(800)])
