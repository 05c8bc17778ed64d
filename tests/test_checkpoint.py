"""Checkpoints: resume after a kill, refuse corrupt or foreign checkpoints; warm start."""

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import EMBEDDERS, SMALL
from sklearn.base import clone

from skaudio import COLAEmbedder, TokenTransformerEmbedder
from skaudio.datasets import make_tones

X_TRAIN, _ = make_tones(n_clips=48, n_classes=4, sample_rate=8000, random_state=0)

#: a child process fits with checkpoints and kills itself in the middle of epoch 3 of
#: the stage that trains ``module`` (the token transformer trains two nets in turn)
KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from skaudio.datasets import make_tones
    from skaudio.training import SelfSupervisedNet
    from skaudio import {cls}

    def die_in_epoch_3(self, *args, **kwargs):
        in_stage = type(self.module_).__name__ == {module!r}
        if in_stage and len(self.history) == 3 and len(self.history[-1]["batches"]) == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    SelfSupervisedNet.on_batch_end = die_in_epoch_3
    X, _ = make_tones(n_clips=48, n_classes=4, sample_rate=8000, random_state=0)
    {cls}(**{params!r}).fit(X)
    print("not killed")
    """
)


def _run_killed(cls, params, module):
    script = KILLED_RUN.format(cls=cls.__name__, params=params, module=module)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("cls", [COLAEmbedder, TokenTransformerEmbedder])
def test_resume_after_sigkill_ends_as_the_uninterrupted_run(tmp_path, cls):
    params = {**SMALL, "max_epochs": 4}
    if cls is TokenTransformerEmbedder:
        params = dict(
            sample_rate=8000, patch_frames=5, context_tokens=5, n_tokens=8,
            autoencoder_width=32, embedding_dim=16, batch_size=16, max_epochs=4,
            random_state=0,
        )  # fmt: skip
    checkpoints = tmp_path / "checkpoints"
    stage, module = "model", "COLAModel"
    if cls is TokenTransformerEmbedder:  # killed in the second stage, the first one done
        stage, module = "transformer", "TokenTransformerModel"
    _run_killed(cls, {**params, "checkpoint_dir": str(checkpoints)}, module)
    # the kill came in epoch 3: the last complete epoch on disk is 2
    assert torch.load(checkpoints / f"{stage}.pt")["epochs"] == 2
    assert not list(checkpoints.glob(".*tmp"))

    resumed = cls(**params, checkpoint_dir=checkpoints).fit(X_TRAIN)
    uninterrupted = cls(**params).fit(X_TRAIN)
    assert len(resumed.history_) == len(uninterrupted.history_) == 4
    np.testing.assert_allclose(
        resumed.history_[:, "train_loss"], uninterrupted.history_[:, "train_loss"], rtol=1e-5
    )
    np.testing.assert_allclose(
        resumed.transform(X_TRAIN), uninterrupted.transform(X_TRAIN), rtol=1e-5, atol=1e-6
    )


def test_a_finished_checkpoint_is_loaded_without_training_and_can_be_extended(tmp_path):
    params = {**SMALL, "max_epochs": 2, "checkpoint_dir": tmp_path}
    first = COLAEmbedder(**params).fit(X_TRAIN)
    again = COLAEmbedder(**params, verbose=0).fit(X_TRAIN)
    np.testing.assert_array_equal(first.transform(X_TRAIN), again.transform(X_TRAIN))
    longer = COLAEmbedder(**{**params, "max_epochs": 3}).fit(X_TRAIN)
    straight = COLAEmbedder(**{**SMALL, "max_epochs": 3}).fit(X_TRAIN)
    assert len(longer.history_) == 3
    np.testing.assert_allclose(longer.transform(X_TRAIN), straight.transform(X_TRAIN), rtol=1e-5)
    with pytest.raises(ValueError, match="holds 3 epochs, more than max_epochs=1"):
        COLAEmbedder(**{**params, "max_epochs": 1}).fit(X_TRAIN)


def test_a_checkpoint_of_another_configuration_or_data_is_refused(tmp_path):
    COLAEmbedder(**SMALL, checkpoint_dir=tmp_path).fit(X_TRAIN)
    with pytest.raises(ValueError, match=r"another run \(embedding_dim: checkpoint 16, now 8\)"):
        COLAEmbedder(**{**SMALL, "embedding_dim": 8}, checkpoint_dir=tmp_path).fit(X_TRAIN)
    with pytest.raises(ValueError, match=r"another run \(n_clips: checkpoint 48, now 40"):
        COLAEmbedder(**SMALL, checkpoint_dir=tmp_path).fit(X_TRAIN[:40])
    with pytest.raises(
        ValueError, match=r"another run \(estimator: checkpoint COLAEmbedder, now Contr"
    ):
        EMBEDDERS[1](**SMALL, checkpoint_dir=tmp_path).fit(X_TRAIN)


def test_a_checkpoint_dir_that_is_a_file_is_refused_before_training(tmp_path):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("")
    with pytest.raises(ValueError, match=r"notes\.txt' is a file, not a folder"):
        COLAEmbedder(**SMALL, checkpoint_dir=not_a_folder).fit(X_TRAIN)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_corrupt_checkpoint_is_an_error_not_a_restart(tmp_path, damage):
    COLAEmbedder(**SMALL, checkpoint_dir=tmp_path).fit(X_TRAIN)
    path = tmp_path / "model.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a checkpoint")
    with pytest.raises(ValueError, match=r"model\.pt' is corrupt or unreadable.*delete it"):
        COLAEmbedder(**SMALL, checkpoint_dir=tmp_path).fit(X_TRAIN)


@pytest.mark.parametrize("make_embedder", EMBEDDERS)
def test_partial_fit_adds_one_epoch_and_warm_start_adds_max_epochs(make_embedder):
    embedder = make_embedder(**SMALL)
    embedder.partial_fit(X_TRAIN[:24])
    assert len(embedder.history_) == 1
    weights = {k: v.clone() for k, v in embedder.net_.module_.state_dict().items()}
    embedder.partial_fit(X_TRAIN[24:])  # new data: the same network goes on learning
    assert len(embedder.history_) == 2
    state = embedder.net_.module_.state_dict()
    assert any(not np.allclose(weights[k].numpy(), state[k].numpy()) for k in weights)

    warm = make_embedder(**{**SMALL, "max_epochs": 2}, warm_start=True).fit(X_TRAIN)
    assert len(warm.fit(X_TRAIN).history_) == 4
    cold = clone(warm).set_params(warm_start=False).fit(X_TRAIN)
    assert len(cold.fit(X_TRAIN).history_) == 2


def test_first_partial_fit_is_fit_with_one_epoch():
    partial = COLAEmbedder(**{**SMALL, "max_epochs": 5}).partial_fit(X_TRAIN)
    assert partial.max_epochs == 5  # the parameter is left as set
    one_epoch = COLAEmbedder(**{**SMALL, "max_epochs": 1}).fit(X_TRAIN)
    np.testing.assert_array_equal(partial.transform(X_TRAIN), one_epoch.transform(X_TRAIN))


def test_atomic_write_keeps_the_old_file_on_failure_and_plain_permissions(tmp_path):
    from skaudio._atomic import atomic_write

    path = tmp_path / "state.bin"
    atomic_write(path, lambda f: f.write(b"epoch 1"))

    def fail_midway(f):
        f.write(b"epoch 2, half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail_midway)
    assert path.read_bytes() == b"epoch 1"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]  # no temporary left
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"")
    assert path.stat().st_mode == plain.stat().st_mode  # the umask's, like open()
