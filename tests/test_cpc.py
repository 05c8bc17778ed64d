import math
import warnings

import numpy as np
import pytest
import torch

from skaudio import CPCEmbedder
from skaudio.encoders import CPCLogMelEncoder, CPCWaveformEncoder
from skaudio.estimators.cpc import DEFAULT_SEGMENT_SECONDS
from skaudio.exceptions import DegenerateTrainingWarning
from skaudio.features import LogMelSpectrogram
from skaudio.losses import cpc_infonce, cpc_step_weights
from skaudio.models import CPCModel
from skaudio.models.cpc import CausalTransformer, GRUContext

TINY_CPC = dict(
    sample_rate=8000,
    segment_seconds=0.25,
    z_dim=16,
    c_dim=16,
    n_predict=3,
    batch_size=16,
    max_epochs=1,
    random_state=0,
)


# -- loss -------------------------------------------------------------------------------


def _reference_infonce(z, predictions, valid, negatives):
    """Loop over steps, clips and times: -log softmax of the true future among candidates."""
    n_predict, batch, n_frames, _ = predictions.shape
    losses = []
    for k in range(1, n_predict + 1):
        terms = []
        for b in range(batch):
            for t in range(n_frames - k):
                if not valid[b, t + k]:
                    continue
                p = predictions[k - 1, b, t].double()
                if negatives == "batch":
                    candidates = [(c, t + k) for c in range(batch) if valid[c, t + k]]
                else:
                    candidates = [
                        (c, u) for c in range(batch) for u in range(n_frames) if valid[c, u]
                    ]
                scores = [float(p @ z[c, u].double()) for c, u in candidates]
                positive = scores[candidates.index((b, t + k))]
                terms.append(math.log(sum(math.exp(s) for s in scores)) - positive)
        if terms:
            losses.append(sum(terms) / len(terms))
    return sum(losses) / len(losses)


@pytest.fixture
def sequences():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 6, 4, generator=g)
    predictions = torch.randn(2, 3, 6, 4, generator=g)
    valid = torch.ones(3, 6, dtype=torch.bool)
    valid[1, 4:] = False  # a short clip: its last two frames are padding
    return z, predictions, valid


@pytest.mark.parametrize("negatives", ["batch", "batch+time"])
def test_infonce_matches_reference_loop(sequences, negatives):
    z, predictions, valid = sequences
    loss, accuracy = cpc_infonce(z, predictions, valid, negatives=negatives)
    expected = _reference_infonce(z, predictions, valid, negatives)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert accuracy.shape == (2,) and ((accuracy >= 0) & (accuracy <= 1)).all()


def test_infonce_perfect_predictions_give_low_loss_and_full_accuracy():
    z = torch.eye(12)[:12].reshape(2, 6, 12) * 10  # every position its own direction
    predictions = torch.stack([torch.roll(z, -k, dims=1) for k in (1, 2)])
    for negatives in ("batch", "batch+time"):
        loss, accuracy = cpc_infonce(z, predictions, negatives=negatives)
        assert loss.item() < 1e-3 and (accuracy == 1).all()


def test_sampled_negatives_never_draw_the_positive_and_follow_the_generator(sequences):
    z, predictions, valid = sequences
    for negatives in ("batch", "batch+time"):

        def sampled(seed, negatives=negatives):
            generator = torch.Generator().manual_seed(seed)
            loss, _ = cpc_infonce(
                z, predictions, valid, negatives=negatives, n_negatives=5, generator=generator
            )
            return loss.item()

        assert sampled(1) == sampled(1) and sampled(1) != sampled(2)
    # one prediction (clip 1, t=0 -> t=1), whose positive alone points along e1; every
    # negative points along e0 and scores 0, so the loss is ~0 unless the positive
    # itself were drawn as a negative (then it would be >= log 2)
    z = torch.zeros(2, 2, 2)
    z[..., 0] = 1.0
    z[1, 1] = torch.tensor([0.0, 1.0])
    predictions = torch.zeros(1, 2, 2, 2)
    predictions[0, 1, 0] = torch.tensor([0.0, 50.0])
    valid = torch.tensor([[True, False], [True, True]])
    loss, accuracy = cpc_infonce(
        z,
        predictions,
        valid,
        negatives="batch+time",
        n_negatives=50,
        generator=torch.Generator().manual_seed(0),
    )
    assert loss.item() < 1e-6 and accuracy.item() == 1.0


def test_padding_is_never_a_target_or_a_candidate(sequences):
    z, predictions, valid = sequences
    changed = z.clone()
    changed[1, 4:] = 1000.0  # garbage in the padding of clip 1
    for negatives in ("batch", "batch+time"):
        before = cpc_infonce(z, predictions, valid, negatives=negatives)[0]
        after = cpc_infonce(changed, predictions, valid, negatives=negatives)[0]
        assert after.item() == pytest.approx(before.item(), rel=1e-6)


def test_step_weights():
    torch.testing.assert_close(cpc_step_weights(4), torch.full((4,), 0.25))
    torch.testing.assert_close(cpc_step_weights(3, "linear"), torch.tensor([3, 2, 1]) / 6.0)
    with pytest.raises(ValueError, match="step weighting"):
        cpc_step_weights(3, "cubic")


def test_sequences_too_short_to_predict_give_zero_loss():
    predictions = torch.randn(3, 2, 1, 4, requires_grad=True)
    loss, accuracy = cpc_infonce(torch.randn(2, 1, 4), predictions)
    assert loss.item() == 0.0 and accuracy.isnan().all()
    loss.backward()


# -- encoders and context networks ----------------------------------------------------


@pytest.mark.parametrize("n_samples", [1, 159, 160, 161, 464, 465, 466, 1000, 20480])
def test_waveform_encoder_frame_arithmetic(n_samples):
    encoder = CPCWaveformEncoder(embedding_dim=16).eval()
    assert encoder.receptive_field == 465 and encoder.time_stride == 160
    frames = encoder.forward_frames(torch.randn(2, 1, n_samples))
    assert frames.shape == (2, math.ceil(n_samples / 160), 8)
    assert encoder.n_frames(n_samples) == frames.shape[1]


@pytest.mark.parametrize("sample_rate", [8000, 16000, 22050, 44100])
def test_frame_times_for_any_sample_rate(sample_rate):
    encoder = CPCWaveformEncoder(embedding_dim=16)
    model = CPCModel(LogMelSpectrogram(sample_rate, n_mels=16), encoder, GRUContext(8, 8), 8, 2)
    times = model.frame_times(4)
    np.testing.assert_allclose(np.diff(times), 160 / sample_rate)
    assert times[0] == pytest.approx(79.5 / sample_rate)  # centre of the first 160 samples


def test_strides_and_kernels_set_the_hop_and_receptive_field():
    encoder = CPCWaveformEncoder(embedding_dim=8, strides=(4, 2), kernels=(8, 4))
    assert encoder.time_stride == 8 and encoder.receptive_field == 8 + 3 * 4
    assert encoder.forward_frames(torch.randn(1, 1, 100)).shape[1] == math.ceil(100 / 8)
    with pytest.raises(ValueError, match="equal length"):
        CPCWaveformEncoder(strides=(2, 2), kernels=(4,))


def test_logmel_encoder_patches_are_independent():
    encoder = CPCLogMelEncoder(n_mels=16, embedding_dim=8, patch_frames=4).eval()
    x = torch.randn(1, 1, 16, 22)
    frames = encoder.forward_frames(x)
    assert frames.shape == (1, 6, 4)  # ceil(22 / 4) patches
    changed = x.clone()
    changed[..., 8:12] += 5.0  # patch 2 only
    after = encoder.forward_frames(changed)
    differs = (after - frames).abs().amax(dim=2)[0] > 1e-6
    assert differs.tolist() == [False, False, True, False, False, False]


@pytest.mark.parametrize(
    "context", [GRUContext(6, 8), CausalTransformer(6, 8, n_layers=2, n_heads=2, dropout=0.0)]
)
def test_context_networks_are_causal(context):
    context.eval()
    z = torch.randn(2, 7, 6)
    c = context(z)
    assert c.shape == (2, 7, 8)
    changed = z.clone()
    changed[:, 4:] += 3.0
    after = context(changed)
    torch.testing.assert_close(after[:, :4], c[:, :4])
    assert not torch.allclose(after[:, 4:], c[:, 4:])


# -- estimator --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(tones):
    X, _ = tones
    return CPCEmbedder(**{**TINY_CPC, "max_epochs": 2}).fit(X)


def test_history_has_the_accuracy_of_every_step(fitted):
    last = fitted.history_[-1]
    for k in (1, 2, 3):
        assert 0 <= last[f"train_step{k}_acc"] <= 1
    assert fitted.n_predict_ == 3
    assert isinstance(fitted.net_.module_, CPCModel)


@pytest.mark.parametrize(
    ("params", "dim"),
    [
        ({}, 16),
        ({"pooling": "mean+max"}, 32),
        ({"features": "encoder"}, 16),
        ({"features": "encoder", "pooling": "mean+max", "z_dim": 8}, 16),
    ],
)
def test_pooling_and_features_set_the_output(tones, params, dim):
    X, _ = tones
    est = CPCEmbedder(**{**TINY_CPC, "max_epochs": 0, **params}).fit(X[:8])
    Z = est.transform(X[:3])
    assert Z.shape == (3, dim) and est.get_feature_names_out().shape == (dim,)
    frames, _ = est.transform_frames(X[:3])
    if est.pooling == "mean":
        np.testing.assert_allclose(Z, np.stack([f.mean(axis=0) for f in frames]), rtol=1e-6)


def test_last_pooling_is_the_final_context_of_each_clip(fitted, tones):
    X, _ = tones
    frames, _ = fitted.transform_frames(X[:4])
    fitted.set_params(pooling="last")
    try:
        np.testing.assert_array_equal(fitted.transform(X[:4]), np.stack([f[-1] for f in frames]))
    finally:
        fitted.set_params(pooling="mean")


@pytest.mark.parametrize(
    "params",
    [
        {"context": "transformer", "c_dim": 16, "transformer_heads": 2},
        {"input_representation": "logmel", "n_mels": 16},
        {"negatives": "batch+time", "n_negatives": 4, "step_weights": "linear"},
        {"encoder_width": 32},
    ],
)
def test_variants_train_and_embed(tones, params):
    X, _ = tones
    est = CPCEmbedder(**{**TINY_CPC, **params}).fit(X[:16])
    assert np.isfinite(est.history_[-1, "train_loss"])
    assert np.isfinite(est.transform(X[:2])).all()


def test_clips_shorter_than_the_window_train_and_embed(tones):
    X, _ = tones
    clips = [X[0][:5], X[1][:300], X[2], X[3][:1]]
    est = CPCEmbedder(**TINY_CPC).fit(clips)
    assert np.isfinite(est.history_[-1, "train_loss"])
    assert est.transform(clips).shape == (4, 16)


def test_default_steps_depend_on_the_representation(tones):
    X, _ = tones
    raw = CPCEmbedder(**{**TINY_CPC, "n_predict": None, "max_epochs": 0}).fit(X[:2])
    mel = CPCEmbedder(
        **{**TINY_CPC, "n_predict": None, "max_epochs": 0, "input_representation": "logmel"},
        n_mels=16,
    ).fit(X[:2])
    assert (raw.n_predict_, mel.n_predict_) == (12, 4)


def test_transformer_heads_must_divide_c_dim(tones):
    X, _ = tones
    with pytest.raises(ValueError, match="multiple of transformer_heads"):
        CPCEmbedder(**TINY_CPC, context="transformer", transformer_heads=3).fit(X[:4])


def test_encoder_width_sets_the_raw_encoders_filters(tones):
    X, _ = tones
    est = CPCEmbedder(**{**TINY_CPC, "max_epochs": 0}, encoder_width=24).fit(X[:2])
    assert est.net_.module_.encoder.body[0].out_channels == 24


def test_the_defaults_are_the_cpu_recipe_and_train(tones):
    # the settings of the benchmark rows that beat their random init (benchmarks/quality.py,
    # make_rows' "cpc"), not the paper's 1.28 s, width 512, c_dim 512, lr 2e-4 (a GPU's)
    recipe = dict(
        segment_seconds=0.32, encoder_width=128, z_dim=256, c_dim=256, lr=1e-3, batch_size=64
    )
    params = CPCEmbedder().get_params()
    assert {name: params[name] for name in recipe} == recipe
    assert DEFAULT_SEGMENT_SECONDS == recipe["segment_seconds"]
    X, _ = tones
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateTrainingWarning)
        est = CPCEmbedder(sample_rate=8000, max_epochs=1, random_state=0).fit(X[:4])
    assert est.n_predict_ == 12 and est.segment_length_ == 2560  # 16 frames of 20 ms
    Z = est.transform(X[:3])
    assert Z.shape == (3, 256) and Z.dtype == np.float32 and np.isfinite(Z).all()


def test_logmel_at_the_default_crop_warns_to_lengthen_it(tones):
    # 0.32 s gives 4 patches of audio and an edge one: step 4 has nothing to predict
    X, _ = tones
    settings = dict(sample_rate=8000, input_representation="logmel", n_mels=16, z_dim=8)
    settings.update(c_dim=8, batch_size=4, max_epochs=1, random_state=0)
    message = r"crop, segment_seconds=0.32,.*only steps 1 to 3 of the n_predict=4.*>= 0.4 at 8000"
    with pytest.warns(DegenerateTrainingWarning, match=message):
        CPCEmbedder(**settings).fit(X[:4])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateTrainingWarning)
        CPCEmbedder(**settings, segment_seconds=0.4).fit(X[:4])  # 5 patches of audio
