"""Faults around training runs: interrupts, checkpoints of other data, resuming stages."""

import os

import joblib
import numpy as np
import pytest
import soundfile as sf
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import make_pipeline

from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder
from skaudio.cli import main
from skaudio.clips import FileClips
from skaudio.datasets import make_tones
from skaudio.training import SelfSupervisedNet

SR = 8000
X, Y = make_tones(n_clips=16, n_classes=2, sample_rate=SR, random_state=0)
X = [x[: SR // 2] for x in X]  # half-second clips: two batches of 8 per epoch
Y = np.asarray(Y)

COLA = dict(
    sample_rate=SR, segment_seconds=0.1, n_mels=16, embedding_dim=8, projection_dim=8,
    batch_size=8, random_state=0,
)  # fmt: skip
TOKENS = dict(
    sample_rate=SR, n_mels=16, patch_frames=5, context_tokens=5, n_tokens=8,
    autoencoder_width=16, autoencoder_layers=1, d_model=8, n_heads=2, n_layers=1,
    feedforward=16, embedding_dim=8, batch_size=32, random_state=0,
)  # fmt: skip
MAKERS = {
    "cola": lambda **kw: COLAEmbedder(**COLA, **kw),
    "simclr": lambda **kw: ContrastiveAudioEmbedder(**COLA, **kw),
    "cpc": lambda **kw: CPCEmbedder(
        sample_rate=SR,
        segment_seconds=0.1,
        encoder_width=32,
        n_mels=16,
        z_dim=8,
        c_dim=8,
        n_predict=2,
        batch_size=8,
        random_state=0,
        **kw,
    ),
    "tokens": lambda **kw: TokenTransformerEmbedder(**TOKENS, **kw),
}


def _interrupt_in_epoch(monkeypatch, epoch: int, module: str | None = None) -> None:
    """Raise KeyboardInterrupt (as Ctrl-C would) after the first batch of ``epoch``.

    Only in the net training a module of class ``module``, if given (the token
    transformer trains two nets in turn).
    """

    def on_batch_end(self, *args, **kwargs):
        in_stage = module is None or type(self.module_).__name__ == module
        if in_stage and len(self.history) == epoch and len(self.history[-1]["batches"]) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(SelfSupervisedNet, "on_batch_end", on_batch_end, raising=False)


def _epochs_trained(monkeypatch, module: str) -> list:
    """A list that gets one entry per epoch a net of class ``module`` completes."""
    trained = []
    original = SelfSupervisedNet.on_epoch_end

    def on_epoch_end(self, *args, **kwargs):
        if type(self.module_).__name__ == module:
            trained.append(len(self.history))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SelfSupervisedNet, "on_epoch_end", on_epoch_end)
    return trained


def _assert_same_model(a, b):
    np.testing.assert_allclose(a.transform(X), b.transform(X), rtol=1e-5, atol=1e-6)
    assert len(a.history_) == len(b.history_)
    np.testing.assert_allclose(a.history_[:, "train_loss"], b.history_[:, "train_loss"], rtol=1e-5)


# -- case 1: a KeyboardInterrupt stops fit, leaves no partial model ----------------------------


def test_interrupted_first_fit_raises_and_leaves_the_estimator_unfitted(tmp_path, monkeypatch):
    _interrupt_in_epoch(monkeypatch, 3)
    embedder = COLAEmbedder(**COLA, max_epochs=6, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        embedder.fit(X)
    assert not embedder.__sklearn_is_fitted__()
    assert not hasattr(embedder, "device_")  # no half-set fitted attributes either
    # the last complete epoch is checkpointed, and fitting again resumes from it
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epochs"] == 2
    monkeypatch.undo()
    resumed = embedder.fit(X)
    _assert_same_model(resumed, COLAEmbedder(**COLA, max_epochs=6).fit(X))


def test_interrupted_refit_keeps_the_previous_model(monkeypatch):
    embedder = COLAEmbedder(**COLA, max_epochs=1).fit(X)
    before = embedder.transform(X)
    net = embedder.net_
    _interrupt_in_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        embedder.set_params(max_epochs=3).fit(X)
    assert embedder.net_ is net and len(embedder.history_) == 1
    np.testing.assert_array_equal(embedder.transform(X), before)


def test_interrupted_partial_fit_leaves_the_model_as_it_was(monkeypatch):
    embedder = COLAEmbedder(**COLA).partial_fit(X)
    state = {k: v.clone() for k, v in embedder.net_.module_.state_dict().items()}
    _interrupt_in_epoch(monkeypatch, 2)  # in the second call's epoch
    with pytest.raises(KeyboardInterrupt):
        embedder.partial_fit(X)
    assert len(embedder.history_) == 1
    for key, value in embedder.net_.module_.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)
    monkeypatch.undo()
    # and the next call trains as if the interrupted one had not happened
    straight = COLAEmbedder(**COLA).partial_fit(X).partial_fit(X)
    _assert_same_model(embedder.partial_fit(X), straight)


def test_interrupt_in_the_autoencoder_stage_stops_before_kmeans(tmp_path, monkeypatch):
    from sklearn.cluster import MiniBatchKMeans

    kmeans_fits = []
    original = MiniBatchKMeans.fit
    monkeypatch.setattr(
        MiniBatchKMeans,
        "fit",
        lambda self, *a, **k: kmeans_fits.append(1) or original(self, *a, **k),
    )
    _interrupt_in_epoch(monkeypatch, 3, module="PatchReconstruction")
    embedder = TokenTransformerEmbedder(**TOKENS, max_epochs=4, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        embedder.fit(X)
    assert kmeans_fits == []  # neither k-means nor the transformer ran on a half autoencoder
    assert not embedder.__sklearn_is_fitted__()
    assert not hasattr(embedder, "autoencoder_") and not hasattr(embedder, "codebook_")
    assert torch.load(tmp_path / "autoencoder.pt", weights_only=True)["epochs"] == 2
    assert not (tmp_path / "transformer.pt").exists()
    monkeypatch.undo()
    resumed = embedder.fit(X)
    straight = TokenTransformerEmbedder(**TOKENS, max_epochs=4).fit(X)
    _assert_same_model(resumed, straight)
    np.testing.assert_array_equal(resumed.codebook_, straight.codebook_)


def test_cli_pretrain_interrupted_exits_130_and_saves_no_model(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "audio"
    folder.mkdir()
    for i, clip in enumerate(X[:8]):
        sf.write(folder / f"tone{i}.wav", clip, SR)
    model, checkpoints = tmp_path / "model.joblib", tmp_path / "checkpoints"
    args = [
        "pretrain", "cola", str(folder), "-o", str(model), "--quiet", "--sample_rate", "8000",
        "--segment_seconds", "0.1", "--n_mels", "16", "--embedding_dim", "8",
        "--batch_size", "4", "--max_epochs", "4", "--random_state", "0",
        "--checkpoint_dir", str(checkpoints),
    ]  # fmt: skip
    _interrupt_in_epoch(monkeypatch, 2)
    assert main(args) == 130
    assert not model.exists()
    err = capsys.readouterr().err
    assert "skaudio pretrain: interrupted" in err and "run the same command again" in err
    assert torch.load(checkpoints / "model.pt", weights_only=True)["epochs"] == 1
    monkeypatch.undo()
    assert main(args) == 0  # resumes
    assert len(joblib.load(model).history_) == 4


# -- case 2: each stage resumes its own parts; extending a run -----------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MAKERS))
def test_an_extended_run_equals_the_uninterrupted_run(tmp_path, name):
    make = MAKERS[name]
    make(max_epochs=2, checkpoint_dir=tmp_path).fit(X)
    extended = make(max_epochs=4, checkpoint_dir=tmp_path).fit(X)
    straight = make(max_epochs=4).fit(X)
    _assert_same_model(extended, straight)
    if name == "tokens":
        np.testing.assert_array_equal(extended.codebook_, straight.codebook_)
        np.testing.assert_array_equal(extended.codebook_, extended.net_.module_.codebook.numpy())
        np.testing.assert_array_equal(extended.tokenize(X[:4])[0], straight.tokenize(X[:4])[0])


def test_the_transformer_stage_resumes_over_its_own_tokenizer(tmp_path, monkeypatch):
    _interrupt_in_epoch(monkeypatch, 3, module="TokenTransformerModel")
    params = dict(**TOKENS, max_epochs=4, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        TokenTransformerEmbedder(**params).fit(X)
    monkeypatch.undo()
    trained = _epochs_trained(monkeypatch, "TokenTransformerModel")
    resumed = TokenTransformerEmbedder(**params).fit(X)
    assert trained == [3, 4]  # resumed from epoch 2, not started over
    straight = TokenTransformerEmbedder(**TOKENS, max_epochs=4).fit(X)
    _assert_same_model(resumed, straight)
    np.testing.assert_array_equal(resumed.codebook_, resumed.net_.module_.codebook.numpy())


# -- case 3: a checkpoint is resumed only by its own data ----------------------------------


def test_other_data_of_the_same_shape_is_refused(tmp_path):
    COLAEmbedder(**COLA, max_epochs=1, checkpoint_dir=tmp_path).fit(X)
    other = [x.copy() for x in X]
    other[5] = -other[5]  # one clip differs, same length
    refused = COLAEmbedder(**COLA, max_epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(
        ValueError,
        match=r"model\.pt' was trained on other data .*1 of 16 clips differ, the first being "
        r"clip 5\).*its own checkpoint_dir",
    ):
        refused.fit(other)
    assert not refused.__sklearn_is_fitted__()
    # the checkpoint is untouched: its own data still resumes it
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epochs"] == 1
    COLAEmbedder(**COLA, max_epochs=1, checkpoint_dir=tmp_path).fit(X)


def test_files_are_identified_by_path_size_and_time_without_reading_them(tmp_path, monkeypatch):
    paths = []
    for i, clip in enumerate(X[:8]):
        paths.append(str(tmp_path / f"tone{i}.wav"))
        sf.write(paths[-1], clip, SR)
    checkpoints = tmp_path / "checkpoints"
    COLAEmbedder(**COLA, max_epochs=1, checkpoint_dir=checkpoints).fit(paths)
    stat = os.stat(paths[3])
    sf.write(paths[3], -X[3], SR)  # rewritten: same size, new content
    os.utime(paths[3], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match=r"1 of 8 clips differ, the first being clip 3 \('.*tone3"):
        COLAEmbedder(**COLA, max_epochs=1, checkpoint_dir=checkpoints).fit(paths)

    from skaudio.checkpoint import clip_digests

    saved = torch.load(checkpoints / "model.pt", weights_only=True)["digests"].numpy()
    clips = FileClips(paths, SR)
    monkeypatch.setattr(sf, "read", lambda *a, **k: pytest.fail("read samples"))
    monkeypatch.setattr(sf, "SoundFile", lambda *a, **k: pytest.fail("opened a file"))
    assert (clip_digests(clips) != saved).tolist() == [i == 3 for i in range(8)]
    os.utime(paths[3], ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and time as before
    np.testing.assert_array_equal(clip_digests(clips), saved)


def test_continued_training_does_not_write_into_the_fit_checkpoint(tmp_path):
    embedder = COLAEmbedder(**COLA, max_epochs=1, checkpoint_dir=tmp_path).fit(X)
    embedder.partial_fit(X[:8])  # other data: must not be saved under the fit's manifest
    assert len(embedder.history_) == 2
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epochs"] == 1


def test_cross_validation_with_a_checkpoint_dir_refuses_the_second_fold(tmp_path):
    pipeline = make_pipeline(
        COLAEmbedder(**COLA, max_epochs=1, checkpoint_dir=tmp_path), LogisticRegression()
    )
    with pytest.raises(ValueError, match="trained on other data.*cross-validation"):
        cross_validate(pipeline, X, Y, cv=KFold(4), error_score="raise")


# -- case 4: an unwritable checkpoint_dir is refused before training -----------------------


@pytest.mark.parametrize("name", ["cola", "tokens"])
def test_an_unwritable_checkpoint_dir_is_refused_before_training(tmp_path, monkeypatch, name):
    (tmp_path / "file").write_text("")
    folder = tmp_path / "file" / "sub"  # cannot be created, not even by root
    monkeypatch.setattr(
        SelfSupervisedNet, "fit_loop", lambda *a, **k: pytest.fail("trained"), raising=False
    )
    embedder = MAKERS[name](max_epochs=1, checkpoint_dir=folder)
    with pytest.raises(ValueError, match=r"checkpoint_dir='.*file/sub' cannot be written"):
        embedder.fit(X)
    assert not embedder.__sklearn_is_fitted__()
