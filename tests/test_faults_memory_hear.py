"""Faults and bad input: bounded memory for whole-clip embedding, the HEAR adapter, security."""

from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

from skaudio import COLAEmbedder, CPCEmbedder, TokenTransformerEmbedder
from skaudio.cli import build_parser
from skaudio.encoders import CPCLogMelEncoder, CPCWaveformEncoder
from skaudio.folder import embed_folder
from skaudio.hear import HEARModel, get_scene_embeddings, get_timestamp_embeddings, load_model
from skaudio.models import CPCModel
from skaudio.models.cpc import CausalTransformer, GRUContext

ROOT = Path(__file__).resolve().parents[1]
SR = 8000


def _noise(n_samples, seed=0, n=1):
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(n_samples)).astype(np.float32) for _ in range(n)]


def _cpc(context="gru", **params):
    settings = dict(
        sample_rate=SR,
        segment_seconds=0.1,
        encoder_width=8,
        z_dim=8,
        c_dim=8,
        context=context,
        transformer_heads=2,
        n_predict=2,
        batch_size=8,
        max_epochs=1,
        random_state=0,
    )
    return CPCEmbedder(**{**settings, **params})


@pytest.fixture(scope="module")
def train_clips():
    return _noise(1600, seed=1, n=8)


@pytest.fixture(scope="module", params=["gru", "transformer"])
def fitted_cpc(request, train_clips):
    return _cpc(request.param).fit(train_clips)


# -- case 1: bounded memory for whole-clip embedding --------------------------------


def _attention_lengths(transformer):
    """Record the sequence length of every call of the transformer's layers."""
    lengths = []
    transformer.layers.register_forward_pre_hook(lambda _, args: lengths.append(args[0].shape[1]))
    return lengths


def test_gru_context_in_chunks_equals_one_pass():
    torch.manual_seed(0)
    gru = GRUContext(4, 6).eval()
    z = torch.randn(2, 50, 4)
    with torch.inference_mode():
        whole = gru(z)
        assert torch.equal(gru(z, max_frames=50), whole)  # fits in one chunk: unchanged
        torch.testing.assert_close(gru(z, max_frames=7), whole, rtol=0, atol=1e-6)


def test_transformer_context_in_one_chunk_is_unchanged():
    torch.manual_seed(0)
    transformer = CausalTransformer(4, 8, n_layers=1, n_heads=2).eval()
    z = torch.randn(2, 20, 4)
    with torch.inference_mode():
        assert torch.equal(transformer(z, max_frames=20), transformer(z))


def test_transformer_context_attends_within_bounded_overlapping_chunks():
    torch.manual_seed(0)
    transformer = CausalTransformer(4, 8, n_layers=1, n_heads=2).eval()
    z = torch.randn(2, 50, 4)
    lengths = _attention_lengths(transformer)
    with torch.inference_mode():
        chunked = transformer(z, max_frames=8)
        assert chunked.shape == (2, 50, 8)
        assert max(lengths) == 8  # never the 50 x 50 attention of one pass
        # the first chunk is kept whole; every later frame t is the output of the
        # chunk of 8 frames whose second half holds it: it sees 4 to 8 frames z_<=t
        torch.testing.assert_close(chunked[:, :8], transformer(z[:, :8]), rtol=0, atol=0)
        for kept_from in range(8, 50, 4):
            start = kept_from - 4
            expected = transformer(z[:, start : start + 8])[:, 4:]
            torch.testing.assert_close(chunked[:, kept_from : kept_from + 4], expected)


@pytest.mark.parametrize("max_frames", [1, 5, 31])
def test_cpc_encoders_in_chunks_equal_one_pass(max_frames):
    torch.manual_seed(0)
    waveform = CPCWaveformEncoder(embedding_dim=8, hidden=8).eval()
    logmel = CPCLogMelEncoder(n_mels=8, embedding_dim=8, patch_frames=4, channels=(4,)).eval()
    x_wave, x_mel = torch.randn(2, 1, 5003), torch.randn(2, 1, 8, 61)
    with torch.inference_mode():
        whole = waveform.forward_frames(x_wave)
        chunked = waveform.forward_frames(x_wave, max_frames=max_frames)
        assert chunked.shape == whole.shape == (2, 32, 4)
        torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)
        whole = logmel.forward_frames(x_mel)
        chunked = logmel.forward_frames(x_mel, max_frames=max_frames)
        assert chunked.shape == whole.shape == (2, 16, 4)
        torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)


def test_long_clip_is_embedded_in_bounded_chunks(fitted_cpc, monkeypatch):
    """A clip of 200 frames with chunks of 16: attention never sees more than 16."""
    clip = _noise(200 * 160, seed=2)
    whole_frames, whole_times = fitted_cpc.transform_frames(clip)
    whole_scene = fitted_cpc.transform(clip)
    network = fitted_cpc.net_.module_
    lengths = _attention_lengths(network.context) if fitted_cpc.context == "transformer" else []
    monkeypatch.setattr(CPCModel, "max_chunk_frames", 16)
    frames, times = fitted_cpc.transform_frames(clip)
    assert frames[0].shape == whole_frames[0].shape == (200, 8)
    np.testing.assert_array_equal(times[0], whole_times[0])
    if fitted_cpc.context == "gru":  # the state crosses chunks: the same contexts
        np.testing.assert_allclose(frames[0], whole_frames[0], rtol=0, atol=1e-5)
        np.testing.assert_allclose(fitted_cpc.transform(clip), whole_scene, atol=1e-5)
    else:
        assert lengths and max(lengths) == 16
        np.testing.assert_allclose(frames[0][:16], whole_frames[0][:16], rtol=0, atol=1e-5)
    # the encoder's frames are those of one pass for either context
    fitted_cpc.set_params(features="encoder")
    try:
        chunked_z = fitted_cpc.transform_frames(clip)[0][0]
        monkeypatch.setattr(CPCModel, "max_chunk_frames", 10**6)
        np.testing.assert_allclose(chunked_z, fitted_cpc.transform_frames(clip)[0][0], atol=1e-5)
    finally:
        fitted_cpc.set_params(features="context")


def test_clip_that_fits_in_one_chunk_is_bit_identical(fitted_cpc, monkeypatch):
    clips = _noise(3000, seed=3, n=3)
    frames = fitted_cpc.transform_frames(clips)[0]
    monkeypatch.setattr(CPCModel, "max_chunk_frames", 19)  # 3000 samples: 19 frames
    for before, after in zip(frames, fitted_cpc.transform_frames(clips)[0], strict=True):
        np.testing.assert_array_equal(before, after)


def _spy_batches(estimator, monkeypatch):
    shapes = []
    original = estimator._frame_sequence

    def spy(model, waveforms):
        shapes.append(tuple(waveforms.shape))
        return original(model, waveforms)

    monkeypatch.setattr(estimator, "_frame_sequence", spy)
    return shapes


def _tokens(train_clips):
    return TokenTransformerEmbedder(
        sample_rate=SR,
        n_mels=8,
        patch_frames=5,
        context_tokens=4,
        n_tokens=4,
        autoencoder_width=8,
        autoencoder_layers=1,
        d_model=8,
        n_heads=2,
        n_layers=1,
        feedforward=8,
        embedding_dim=8,
        batch_size=8,
        max_epochs=1,
        random_state=0,
    ).fit(train_clips)


@pytest.mark.parametrize("make", ["cpc", "tokens"])
def test_whole_clip_batches_are_capped_by_samples(make, train_clips, monkeypatch):
    estimator = _cpc().fit(train_clips) if make == "cpc" else _tokens(train_clips)
    budget = estimator.batch_size * estimator.segment_length_
    long_clips = _noise(10 * estimator.segment_length_, seed=4, n=8)
    alone = [estimator.transform_frames([clip])[0][0] for clip in long_clips]
    shapes = _spy_batches(estimator, monkeypatch)
    frames = estimator.transform_frames(long_clips)[0]
    assert shapes and all(rows * length <= budget or rows == 1 for rows, length in shapes)
    assert max(rows for rows, _ in shapes) < estimator.batch_size  # today: all 8 at once
    for got, expected in zip(frames, alone, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


# -- case 2: the HEAR adapter checks what HEAR's validator checks ---------------------

HEAR_RATES = [16000, 22050, 44100, 48000]


def _cola(sample_rate):
    X = _noise(sample_rate // 2, seed=5, n=8)
    return COLAEmbedder(
        sample_rate=sample_rate, segment_seconds=0.25, n_mels=16, embedding_dim=8, max_epochs=0
    ).fit(X)


@pytest.fixture(scope="module")
def hear_model():
    return HEARModel(_cola(16000))


def test_load_model_refuses_a_rate_hear_does_not_accept(tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(_cola(SR), path)
    with pytest.raises(ValueError, match=r"model\.joblib.*sample_rate=8000.*16000") as info:
        load_model(path)
    assert "fit the embedder" in str(info.value)


def _hear_validator(module, model_file):
    """The checks of hearvalidator/validate.py (hear-validator 2021.x), minus TensorFlow."""
    model = module.load_model(model_file)
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate in HEAR_RATES
    assert isinstance(model.scene_embedding_size, int)
    assert isinstance(model.timestamp_embedding_size, int)
    for num_audio, length in [(2, 1.07), (2, 1.98), (2, 4.0)]:
        audio = torch.rand((num_audio, int(length * model.sample_rate))) * 2 - 1.0
        embeddings, timestamps = module.get_timestamp_embeddings(audio, model)
        assert embeddings.dtype == torch.float32
        embeddings, timestamps = embeddings.numpy(), timestamps.numpy()
        assert embeddings.ndim == 3 and timestamps.ndim == 2
        assert embeddings.shape[0] == num_audio
        assert embeddings.shape[:2] == timestamps.shape
        assert embeddings.shape[2] == model.timestamp_embedding_size
        if timestamps.shape[1] > 1:
            diff = np.diff(timestamps)
            assert np.max(np.abs(diff - np.mean(diff))) <= 1  # regular, within 1 ms
            assert np.max(timestamps) >= 1000 * length - 2 * np.mean(diff)
            assert np.max(timestamps) <= 1000 * length
    audio = torch.rand((4, int(2.74 * model.sample_rate))) * 2 - 1.0
    embeddings = module.get_scene_embeddings(audio, model)
    assert embeddings.dtype == torch.float32
    assert embeddings.ndim == 2 and embeddings.shape == (4, model.scene_embedding_size)


@pytest.mark.parametrize("make", ["cola", "cpc"])
def test_hear_validator_checks_pass(make, tmp_path):
    import skaudio.hear

    torch.manual_seed(0)
    if make == "cola":
        embedder = _cola(16000)
    else:
        embedder = _cpc(sample_rate=16000, max_epochs=0).fit(_noise(8000, n=4))
    joblib.dump(embedder, tmp_path / "model.joblib")
    _hear_validator(skaudio.hear, tmp_path / "model.joblib")


def test_int16_audio_is_scaled_as_check_audio_scales_it(hear_model):
    rng = np.random.default_rng(6)
    pcm = (3000 * rng.standard_normal((2, 8000))).astype(np.int16)
    from_int16 = get_scene_embeddings(torch.from_numpy(pcm), hear_model)
    from_float = get_scene_embeddings(torch.from_numpy(pcm / np.float32(32768)), hear_model)
    np.testing.assert_allclose(from_int16.numpy(), from_float.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(from_int16.numpy(), hear_model.embedder.transform(list(pcm)))
    frames, _ = get_timestamp_embeddings(torch.from_numpy(pcm), hear_model)
    expected, _ = get_timestamp_embeddings(torch.from_numpy(pcm / np.float32(32768)), hear_model)
    torch.testing.assert_close(frames, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bool, torch.complex64])
def test_audio_that_is_not_real_numbers_is_refused(hear_model, dtype):
    with pytest.raises(TypeError, match=f"{dtype}.*float32"):
        get_scene_embeddings(torch.zeros(2, 8000, dtype=dtype), hear_model)


def test_audio_without_samples_is_refused(hear_model):
    with pytest.raises(ValueError, match="n_samples == 0"):
        get_timestamp_embeddings(torch.zeros(2, 0), hear_model)


def test_timestamps_past_the_end_of_the_sound_are_left_out(hear_model):
    # 1.98 s: 50 frames start inside the sound, every 40 ms, centred at 75 + 40 m ms:
    # the 49th is centred at 1995 ms
    audio = torch.zeros(2, int(1.98 * 16000))
    embeddings, timestamps = get_timestamp_embeddings(audio, hear_model)
    frames, seconds = hear_model.embedder.transform_frames(list(audio.numpy()))
    assert len(frames[0]) == 50 and 1000 * seconds[0][48] == pytest.approx(1995)
    assert timestamps.shape == (2, 48) and float(timestamps.max()) <= 1980
    np.testing.assert_array_equal(embeddings[0].numpy(), frames[0][:48])


def test_bad_outputs_of_an_embedder_are_refused(hear_model, monkeypatch):
    embedder = hear_model.embedder
    audio = torch.zeros(2, 8000)
    frames, seconds = embedder.transform_frames(list(audio.numpy()))
    irregular = [s * np.linspace(1, 1.5, len(s)) for s in seconds]
    monkeypatch.setattr(embedder, "transform_frames", lambda X: (frames, irregular))
    with pytest.raises(ValueError, match="evenly spaced"):
        get_timestamp_embeddings(audio, hear_model)
    ragged = [frames[0], frames[1][:-1]]
    monkeypatch.setattr(embedder, "transform_frames", lambda X: (ragged, seconds))
    with pytest.raises(ValueError, match="one n_timestamps for every sound"):
        get_timestamp_embeddings(audio, hear_model)
    scene = embedder.transform(list(audio.numpy()))
    monkeypatch.setattr(embedder, "transform", lambda X: scene.astype(np.float64))
    assert get_scene_embeddings(audio, hear_model).dtype == torch.float32
    monkeypatch.setattr(embedder, "transform", lambda X: scene[:, :3])
    with pytest.raises(ValueError, match="scene_embedding_size"):
        get_scene_embeddings(audio, hear_model)


# -- case 3: model files are pickles -------------------------------------------------


def test_security_note_in_cli_help_readme_guides_and_docstrings():
    parser = build_parser()
    main_help = " ".join(parser.format_help().split())
    assert "pickles" in main_help and "only files you trust" in main_help
    assert "weights_only=True" in main_help
    commands = parser._subparsers._group_actions[0].choices
    for name in ("embed", "info"):
        assert "only files you trust" in " ".join(commands[name].format_help().split())
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Security", 1)[1].split("\n## ", 1)[0]
    assert "pickle" in section and "trust" in section and "weights_only=True" in section
    for guide in ("hear.rst", "scale.rst"):
        text = " ".join((ROOT / "doc" / "guide" / guide).read_text().split())
        assert "Security" in text and "only model files you trust" in text
    for function in (load_model, embed_folder):
        assert "files you trust" in " ".join(function.__doc__.split())
