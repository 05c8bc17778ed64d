"""Bad or degenerate input values, labels and parameters: a clear error or warning, never
a silent wrong answer nor a raw error from torch or numpy (tiny settings, fast)."""

import warnings

import numpy as np
import pytest
import torch

from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder
from skaudio._compat import InvalidParameterError
from skaudio._torch_utils import resolve_device
from skaudio.clips import as_clips
from skaudio.exceptions import AudioInputWarning, DegenerateTrainingWarning
from skaudio.io import check_audio
from skaudio.losses import next_token_accuracy, next_token_loss

SR = 8000
TINY = dict(sample_rate=SR, n_mels=8, batch_size=8, max_epochs=1, random_state=0)
CONTRASTIVE = dict(TINY, segment_seconds=0.05, embedding_dim=8, projection_dim=8)
#: 4 frames of 160 samples per 0.08 s window: n_predict=2 fits
CPC = dict(TINY, segment_seconds=0.08, z_dim=8, c_dim=8, encoder_width=8, n_predict=2)
TOKENS = dict(
    TINY,
    patch_frames=2,
    context_tokens=4,
    n_tokens=2,
    autoencoder_width=8,
    autoencoder_layers=1,
    d_model=8,
    n_heads=2,
    n_layers=1,
    feedforward=8,
    embedding_dim=4,
)


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(800)).astype(np.float32) for _ in range(6)]


def _no_skaudio_warning():
    """A block in which any warning of the given kind is an error."""
    block = warnings.catch_warnings()
    block.__enter__()
    warnings.simplefilter("error", DegenerateTrainingWarning)
    warnings.simplefilter("error", AudioInputWarning)
    return block


def _make(kind, **params):
    if kind == "cola":
        return COLAEmbedder(**{**CONTRASTIVE, **params})
    if kind == "simclr":
        return ContrastiveAudioEmbedder(**{**CONTRASTIVE, "augmentations": "none", **params})
    return CPCEmbedder(**{**CPC, **params})


# -- 1. one clip per batch: no negatives --------------------------------------------------
@pytest.mark.parametrize("kind", ["cola", "simclr", "cpc"])
def test_one_clip_or_batch_size_one_warns_that_there_are_no_negatives(kind, clips):
    with pytest.warns(DegenerateTrainingWarning, match="1 clip.*no negatives"):
        _make(kind).fit(clips[:1])
    with pytest.warns(DegenerateTrainingWarning, match="batch_size=1.*no negatives"):
        _make(kind, batch_size=1).fit(clips[:3])
    block = _no_skaudio_warning()
    try:  # two clips in a batch of 8, or no training at all: nothing to say
        _make(kind).fit(clips[:2])
        _make(kind, max_epochs=0).fit(clips[:1])
    finally:
        block.__exit__(None, None, None)


def test_cpc_negatives_from_the_same_clip_need_no_second_clip(clips):
    with pytest.warns(DegenerateTrainingWarning, match="no negatives"):
        _make("cpc", negatives="batch").fit(clips[:1])
    block = _no_skaudio_warning()
    try:
        fitted = _make("cpc", negatives="batch+time").fit(clips[:1])
    finally:
        block.__exit__(None, None, None)
    assert fitted.history_[-1, "train_loss"] > 0


@pytest.mark.parametrize("n_clips, batch_size", [(6, 5), (1, 8), (4, 1)])
def test_cpc_sampled_negatives_from_a_one_clip_batch_are_refused_before_training(
    clips, n_clips, batch_size
):
    est = _make("cpc", n_negatives=2, batch_size=batch_size)
    with pytest.raises(ValueError, match=r"n_negatives=2 with negatives='batch'.*batch_size="):
        est.fit(clips[:n_clips])
    assert not hasattr(est, "net_")
    _make("cpc", n_negatives=2, batch_size=3).fit(clips)  # batches of 3 and 3: fine


# -- 2. CPC with nothing to predict ---------------------------------------------------------
@pytest.mark.parametrize(
    "params, message",
    [
        (
            dict(segment_seconds=1e-5, n_predict=None),
            r"segment_seconds=1e-05 gives 1 frame\(s\) of 160 samples; n_predict=12 needs "
            r"at least 13.*segment_seconds >= 0.26",
        ),
        (dict(segment_seconds=0.05, n_predict=12), "gives 3 frame.*n_predict=12 needs at least 13"),
        (dict(n_predict=4), r"gives 4 frame.*n_predict=4 needs at least 5"),
        (
            dict(input_representation="logmel", segment_seconds=0.1, n_predict=None),
            r"gives 2 frame\(s\) of 640 samples; n_predict=4 needs at least 5",
        ),
        (  # the encoder's own frames, not the finer ones transform_frames interleaves
            dict(input_representation="logmel", segment_seconds=0.3, n_predict=4),
            r"gives 4 frame\(s\) of 640 samples; n_predict=4 needs at least 5",
        ),
    ],
)
def test_cpc_window_too_short_for_n_predict_is_refused_before_training(clips, params, message):
    est = _make("cpc", **params)
    with pytest.raises(ValueError, match=message):
        est.fit(clips)
    assert not hasattr(est, "net_") and not hasattr(est, "n_predict_")
    _make("cpc", **params, max_epochs=0).fit(clips)  # untrained baseline: nothing to learn


def test_cpc_clips_too_short_to_predict_warn_and_say_how_long(clips):
    with pytest.warns(DegenerateTrainingWarning, match="1 sample.*learns nothing.*480 samples"):
        _make("cpc").fit([np.ones(1, np.float32)] * 4)
    with pytest.warns(DegenerateTrainingWarning, match="only steps 1 to 1 of the n_predict=2"):
        _make("cpc").fit([c[:300] for c in clips])  # 2 frames of audio: step 2 never seen
    block = _no_skaudio_warning()
    try:
        _make("cpc").fit([clips[0][:5], clips[1]])  # one clip long enough is enough
    finally:
        block.__exit__(None, None, None)


# -- 3. token transformer on one-patch clips ----------------------------------------------------
def test_token_transformer_on_single_patch_clips_warns_nothing_to_predict(clips):
    short = [c[:100] for c in clips]  # 2 log-mel frames of 80 samples: one patch of 2
    with pytest.warns(DegenerateTrainingWarning, match="single patch.*no\\s+next token"):
        TokenTransformerEmbedder(**TOKENS).fit(short)
    block = _no_skaudio_warning()
    try:
        fitted = TokenTransformerEmbedder(**TOKENS).fit(clips)
    finally:
        block.__exit__(None, None, None)
    assert np.isfinite(fitted.history_[-1, "train_loss"])


def test_next_token_loss_with_nothing_to_predict_is_zero_not_nan():
    logits = torch.randn(2, 3, 5, requires_grad=True)
    padding = torch.full((2, 3), -1)
    loss = next_token_loss(logits, padding)
    loss.backward()
    assert float(loss) == 0.0 and float(logits.grad.abs().sum()) == 0.0
    assert float(next_token_accuracy(logits, padding)) == 0.0
    targets = torch.tensor([[1, -1, -1], [-1, -1, -1]])  # one real step: its plain loss
    expected = torch.nn.functional.cross_entropy(logits[0, :1], targets[0, :1])
    torch.testing.assert_close(next_token_loss(logits, targets), expected)


def test_token_transformer_with_some_single_patch_clips_logs_a_finite_loss(clips):
    # five one-patch clips (one target-less window each) and one long clip: some batch
    # of 2 holds only target-less windows, which used to make the epoch loss NaN
    mixed = [c if i == 0 else c[:100] for i, c in enumerate(clips)]
    fitted = TokenTransformerEmbedder(**{**TOKENS, "batch_size": 2}).fit(mixed)
    assert np.isfinite(fitted.history_[:, "train_loss"]).all()


# -- 4. audio that is probably not what was meant ------------------------------------------
@pytest.mark.parametrize("validate", [check_audio, as_clips])
def test_a_recording_laid_out_as_samples_by_channels_warns_with_the_fix(validate):
    with pytest.warns(AudioInputWarning, match=r"\(800, 2\).*800 clips of 2.*X.mean\(axis=1\)"):
        validate(np.zeros((800, 2)), sample_rate=SR)
    with pytest.warns(AudioInputWarning, match=r"800 clips of 1 sample.*X\.T"):
        validate(np.zeros((800, 1)), sample_rate=SR)
    # scikit-learn's common checks pass such arrays: a warning, still read as asked
    with pytest.warns(AudioInputWarning):
        assert len(validate(np.random.default_rng(0).normal(size=(20, 3)), sample_rate=SR)) == 20
    block = _no_skaudio_warning()
    try:  # clips as rows, or too few rows to tell
        validate(np.zeros((800, 9)), sample_rate=SR)
        validate(np.zeros((2, 800)), sample_rate=SR)
        validate(np.zeros((2, 2)), sample_rate=SR)
        validate([np.zeros(2)] * 50, sample_rate=SR)  # a list says what the clips are
    finally:
        block.__exit__(None, None, None)


def test_float_audio_at_integer_scale_warns_to_divide_by_32768():
    rng = np.random.default_rng(0)
    pcm = (3000 * rng.standard_normal(800)).clip(-32768, 32767)
    with pytest.warns(AudioInputWarning, match=r"clip 1 \(and 1 other clip\(s\)\).*32768"):
        waves = check_audio([np.zeros(800), pcm, pcm], sample_rate=SR)
    np.testing.assert_array_equal(waves[1], pcm.astype(np.float32))  # a warning, no rescaling
    with pytest.warns(
        AudioInputWarning, match=r"clip 0 \(and 1 other clip\(s\)\) is float audio with peak 30000"
    ):
        check_audio(np.full((2, 800), 30000.0), sample_rate=SR)
    block = _no_skaudio_warning()
    try:  # slight overs, integer PCM and files are fine
        check_audio([np.full(800, 1.5), np.full(800, -2.0)], sample_rate=SR)
        check_audio([pcm.astype(np.int16)], sample_rate=SR)
    finally:
        block.__exit__(None, None, None)


# -- 5. labels of semi-supervised SimCLR -------------------------------------------------------
def _semi(**params):
    return ContrastiveAudioEmbedder(
        **{**CONTRASTIVE, "augmentations": "none", "supervised_weight": 1.0, **params}
    )


def test_nan_and_none_labels_are_unlabelled_like_minus_one(clips):
    nan = _semi().fit(clips, [0, 1, np.nan, 1, 0, np.nan])
    np.testing.assert_array_equal(nan.classes_, [0.0, 1.0])
    none = _semi().fit(clips, ["dog", "cat", None, "cat", "dog", None])
    np.testing.assert_array_equal(none.classes_, ["cat", "dog"])
    mixed = _semi().fit(clips, ["dog", -1, "cat", "cat", -1, "dog"])  # -1 in a list of strings
    np.testing.assert_array_equal(mixed.classes_, ["cat", "dog"])
    assert nan.net_.module_.classifier.out_features == 2


def test_the_string_minus_one_and_unorderable_labels_are_refused(clips):
    est = _semi()
    with pytest.raises(ValueError, match=r"string '-1' \(first at clip 2\).*integer -1, None"):
        est.fit(clips, np.array(["a", "b", "-1", "a", "b", "-1"]))
    with pytest.raises(TypeError, match="mix types that cannot be ordered.*int, str"):
        est.fit(clips, np.array([0, "a", 1, "b", 0, "a"], dtype=object))
    assert not hasattr(est, "net_")


def test_partial_fit_keeps_the_first_label_encoding(clips):
    est = _semi().partial_fit(clips, [0, 1, 2, 0, 1, 2])
    seen = []
    original = est._training_dataset

    def recording(clips_, targets, rng):
        seen.append(targets.copy())
        return original(clips_, targets, rng)

    est._training_dataset = recording
    est.partial_fit(clips, [1, 2, -1, 2, 1, 2])  # class 0 absent from this batch
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    np.testing.assert_array_equal(seen[-1], [1, 2, -1, 2, 1, 2])


@pytest.mark.parametrize("continued", ["partial_fit", "warm_start"])
def test_an_unseen_class_in_continued_training_is_refused_and_changes_nothing(clips, continued):
    est = _semi().fit(clips, [0, 1, 2, 0, 1, 2])
    weights = {k: v.clone() for k, v in est.net_.module_.state_dict().items()}
    n_epochs = len(est.history_)
    with pytest.raises(ValueError, match=r"label\(s\) 7 \(first at clip 2\).*classes_=\[0, 1, 2\]"):
        if continued == "partial_fit":
            est.partial_fit(clips, [0, 1, 7, 0, 1, 2])
        else:
            est.set_params(warm_start=True).fit(clips, [0, 1, 7, 0, 1, 2])
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    assert len(est.history_) == n_epochs
    for name, value in est.net_.module_.state_dict().items():
        assert torch.equal(value, weights[name]), name


def test_labels_after_a_fit_without_labels_are_refused(clips):
    est = _semi().fit(clips)
    with pytest.raises(ValueError, match="first fitted without labels"):
        est.partial_fit(clips, [0, 1, 0, 1, 0, 1])
    assert est.classes_.size == 0
    est.partial_fit(clips, [-1] * 6)  # still unlabelled: fine
    refit = est.fit(clips, ["a", "b", "a", "b", "a", "b"])  # a new fit: a new encoding
    np.testing.assert_array_equal(refit.classes_, ["a", "b"])


# -- 6. device and booleans for numbers -----------------------------------------------------
@pytest.mark.parametrize("device", ["meta", "mps", "gpu", "cuda:x", "CPU"])
def test_unsupported_devices_are_refused_at_fit_naming_the_accepted_ones(clips, device):
    est = COLAEmbedder(**{**CONTRASTIVE, "device": device})
    with pytest.raises(InvalidParameterError, match=r"'device' parameter.*'auto', 'cpu', 'cuda'"):
        est.fit(clips)
    assert not hasattr(est, "net_")


def test_cuda_devices_must_exist(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match=r"device='cuda:2' names GPU 2, but 2 GPU\(s\)"):
        resolve_device("cuda:2")
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="device='meta' is not supported"):
        resolve_device("meta")


@pytest.mark.parametrize(
    "make, param",
    [
        (COLAEmbedder, "batch_size"),
        (COLAEmbedder, "max_epochs"),
        (COLAEmbedder, "n_mels"),
        (COLAEmbedder, "embedding_dim"),
        (COLAEmbedder, "num_workers"),
        (COLAEmbedder, "lr"),
        (ContrastiveAudioEmbedder, "projection_layers"),
        (CPCEmbedder, "z_dim"),
        (CPCEmbedder, "n_predict"),
        (TokenTransformerEmbedder, "context_tokens"),
    ],
)
def test_booleans_are_refused_for_numeric_parameters(clips, make, param):
    est = make(**{"sample_rate": SR, param: True})
    with pytest.raises(InvalidParameterError, match=rf"'{param}' parameter.*not a bool.*True"):
        est.fit(clips)
    assert not hasattr(est, "net_")


def test_boolean_parameters_still_take_booleans(clips):
    est = COLAEmbedder(**{**CONTRASTIVE, "verbose": False, "warm_start": True, "max_epochs": 0})
    est.fit(clips)
    assert est.device_ == "cpu" or est.device_.startswith("cuda")
