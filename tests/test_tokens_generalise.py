"""The token transformer's early stopping on held-out clips, its corruption draws, the smoke run."""

import copy
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.utils import Bunch

from skaudio import TokenTransformerEmbedder
from skaudio.datasets import make_tones
from skaudio.encoders import PatchAutoencoder
from skaudio.features import LogMelSpectrogram
from skaudio.models import TokenTransformerModel
from skaudio.models.token_transformer import NextTokenTransformer
from skaudio.training import SelfSupervisedNet

SR = 8000
X, _ = make_tones(n_clips=20, sample_rate=SR, random_state=0)
# 10 patches of 50 ms, each starting inside the clip: transform tokenises them as
# training does (a last patch starting at the clip's end is dropped by transform)
X = [x[:3900] for x in X]
TINY = dict(
    sample_rate=SR, n_mels=16, patch_frames=5, context_tokens=5, n_tokens=8,
    autoencoder_width=16, autoencoder_layers=1, d_model=8, n_heads=2, n_layers=1,
    feedforward=16, embedding_dim=8, batch_size=32, validation_fraction=0.0, random_state=0,
)  # fmt: skip
HELD_OUT = dict(TINY, validation_fraction=0.25)


def _valid_scores(embedder) -> list[float]:
    return [row["valid_pretext_acc"] for row in embedder.history_]


def _transformer_states(monkeypatch) -> list:
    """A list that gets the transformer's weights at the end of every epoch it trains."""
    states = []
    original = SelfSupervisedNet.on_epoch_end

    def on_epoch_end(self, *args, **kwargs):
        if isinstance(self.module_, TokenTransformerModel):
            states.append(copy.deepcopy(self.module_.transformer.state_dict()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SelfSupervisedNet, "on_epoch_end", on_epoch_end)
    return states


def _assert_same_state(state, other) -> None:
    assert state.keys() == other.keys()
    for name in state:
        torch.testing.assert_close(state[name], other[name], rtol=0, atol=0)


def test_early_stopping_stops_after_n_iter_no_change_and_keeps_the_best_epoch(monkeypatch):
    states = _transformer_states(monkeypatch)
    # tol=1: no epoch after the first improves by more than 1, so epoch 1 is the best
    params = dict(HELD_OUT, max_epochs=6, n_iter_no_change=2, tol=1.0)
    fitted = TokenTransformerEmbedder(**params).fit(X)
    assert len(fitted.history_) == len(states) == 3 and fitted.best_epoch_ == 1
    _assert_same_state(fitted.net_.module_.transformer.state_dict(), states[0])
    with torch.no_grad():  # and not the last epoch's: the embeddings are epoch 1's
        last = copy.deepcopy(fitted)
        last.net_.module_.transformer.load_state_dict(states[-1])
    assert not np.allclose(fitted.transform(X[:4]), last.transform(X[:4]))
    # the net is left without validation: continued training trains on its clips
    assert fitted.net_.train_split is None
    assert "early_stopping" not in dict(fitted.net_.callbacks_)
    fitted.partial_fit(X)
    assert "valid_pretext_acc" not in fitted.history_[-1]


def test_the_kept_epoch_is_the_best_held_out_score_and_its_weights(monkeypatch):
    states = _transformer_states(monkeypatch)
    fitted = TokenTransformerEmbedder(**HELD_OUT, max_epochs=6, n_iter_no_change=2).fit(X)
    scores = _valid_scores(fitted)
    best = int(np.argmax(scores)) + 1  # the first of the best (tol=0: a tie is no gain)
    assert fitted.best_epoch_ == best
    assert len(scores) == min(6, best + 2)
    _assert_same_state(fitted.net_.module_.transformer.state_dict(), states[best - 1])
    held_out = [X[i] for i in fitted.validation_clips_]
    assert fitted.next_token_accuracy(held_out) == scores[best - 1]


def test_the_split_is_by_clip_and_seeded():
    fitted = TokenTransformerEmbedder(**HELD_OUT, max_epochs=1).fit(X)
    held_out = fitted.validation_clips_
    assert len(held_out) == math.ceil(0.25 * len(X)) and len(set(held_out)) == len(held_out)
    again = TokenTransformerEmbedder(**HELD_OUT, max_epochs=1).fit(X)
    np.testing.assert_array_equal(again.validation_clips_, held_out)
    other = TokenTransformerEmbedder(**{**HELD_OUT, "random_state": 1}, max_epochs=1).fit(X)
    assert set(other.validation_clips_) != set(held_out)
    # the transformer trained on the windows of the other clips only: one per start
    tokens = fitted.tokenize(X)
    training = [t for i, t in enumerate(tokens) if i not in set(held_out)]
    assert sum(fitted.history_[0, "batches", :, "train_batch_size"]) == sum(
        max(1, len(t) - 1) for t in training
    )
    # and was scored on every transition of the held-out clips, once
    assert fitted.history_[0, "valid_pretext_acc"] == fitted.next_token_accuracy(
        [X[i] for i in held_out]
    )


def test_without_validation_it_trains_on_every_clip_with_the_same_tokenizer():
    plain = TokenTransformerEmbedder(**TINY, max_epochs=2).fit(X)
    assert plain.validation_clips_.size == 0 and plain.best_epoch_ is None
    assert len(plain.history_) == 2 and "valid_pretext_acc" not in plain.history_[-1]
    held = TokenTransformerEmbedder(**HELD_OUT, max_epochs=2).fit(X)
    # the split is drawn after k-means: the tokenizer does not depend on it
    np.testing.assert_array_equal(plain.codebook_, held.codebook_)


def test_too_few_clips_to_hold_any_out_is_refused_before_training(monkeypatch):
    monkeypatch.setattr(
        SelfSupervisedNet, "fit_loop", lambda *a, **k: pytest.fail("trained"), raising=False
    )
    long_clip = [np.concatenate(X[:4])]
    with pytest.raises(ValueError, match="validation_fraction=0.25 holds out every one"):
        TokenTransformerEmbedder(**HELD_OUT, max_epochs=1).fit(long_clip)


def _interrupt_in_epoch(monkeypatch, epoch: int) -> None:
    def on_batch_end(self, *args, **kwargs):
        in_stage = type(self.module_).__name__ == "TokenTransformerModel"
        if in_stage and len(self.history) == epoch and len(self.history[-1]["batches"]) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(SelfSupervisedNet, "on_batch_end", on_batch_end, raising=False)


def test_a_run_stopped_early_resumes_exactly(tmp_path, monkeypatch):
    # best epoch 1, stop after 3 epochs without a gain: at epoch 4
    params = dict(**HELD_OUT, max_epochs=9, n_iter_no_change=3, tol=1.0)
    _interrupt_in_epoch(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        TokenTransformerEmbedder(**params, checkpoint_dir=tmp_path).fit(X)
    monkeypatch.undo()
    resumed = TokenTransformerEmbedder(**params, checkpoint_dir=tmp_path).fit(X)
    straight = TokenTransformerEmbedder(**params).fit(X)
    # the misses and the best weights came back from the checkpoint
    assert len(resumed.history_) == len(straight.history_) == 4
    assert resumed.best_epoch_ == straight.best_epoch_ == 1
    np.testing.assert_array_equal(resumed.transform(X), straight.transform(X))
    assert _valid_scores(resumed) == _valid_scores(straight)


def test_a_finished_checkpoint_gives_the_best_epoch_again(tmp_path):
    # runs to max_epochs (no stop), keeping epoch 1: a refit finds nothing left to train
    params = dict(**HELD_OUT, max_epochs=3, n_iter_no_change=5, tol=1.0, checkpoint_dir=tmp_path)
    first = TokenTransformerEmbedder(**params).fit(X)
    again = TokenTransformerEmbedder(**params).fit(X)
    assert first.best_epoch_ == again.best_epoch_ == 1 and len(again.history_) == 3
    np.testing.assert_array_equal(first.transform(X), again.transform(X))


def _original_corrupt(model, tokens):
    """The corruption before it was masked on the device (a host branch on every batch)."""
    generator = model.random_generator(tokens.device)
    draw = torch.rand((), generator=generator, device=tokens.device)
    if draw >= model.corrupt_probability:
        return tokens
    replace = torch.rand(tokens.shape, generator=generator, device=tokens.device)
    replace = (replace < model.corrupt_share) & (tokens < model.transformer.n_tokens)
    random_tokens = torch.randint(
        0, model.transformer.n_tokens, tokens.shape, generator=generator, device=tokens.device
    )
    return torch.where(replace, random_tokens, tokens)


def _token_model(seed: int) -> TokenTransformerModel:
    torch.manual_seed(0)
    transformer = NextTokenTransformer(9, 6, 8, 2, 1, 16, 4)
    autoencoder = PatchAutoencoder(n_mels=8, embedding_dim=4, patch_frames=2, hidden=8)
    return TokenTransformerModel(
        LogMelSpectrogram(8000, n_mels=8), autoencoder, transformer, 0.5, 0.3, seed=seed
    )


def test_corruption_on_the_cpu_draws_as_the_original_branch():
    new, old = _token_model(3), _token_model(3)
    tokens = torch.randint(0, 10, (4, 6))  # 9 is padding
    outcomes = set()
    for _ in range(40):
        corrupted = new._corrupt(tokens)
        torch.testing.assert_close(corrupted, _original_corrupt(old, tokens), rtol=0, atol=0)
        outcomes.add(bool((corrupted != tokens).any()))
        assert torch.equal(corrupted[tokens == 9], tokens[tokens == 9])
    assert outcomes == {True, False}  # both branches were taken
    state = new.random_generator(torch.device("cpu")).get_state()
    assert torch.equal(state, old.random_generator(torch.device("cpu")).get_state())


def test_the_smoke_run_runs_at_a_tiny_setting(capsys, monkeypatch):
    path = Path(__file__).parents[1] / "benchmarks" / "smoke.py"
    spec = importlib.util.spec_from_file_location("smoke", path)
    smoke = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(smoke)
    # tones by three "speakers" stand in for the 3000 digits (reading them takes seconds)
    waveforms, labels = make_tones(n_clips=60, n_classes=3, sample_rate=SR, random_state=0)
    speakers = np.array(["ann", "bob", "cy"] * 20)
    digits = Bunch(data=list(waveforms), target=np.asarray(labels), groups=speakers, sample_rate=SR)
    monkeypatch.setattr(smoke, "load_spoken_digits", lambda: digits)
    rows = smoke.main(["--clips", "30", "--epochs", "1", "--estimators", "mfcc", "tokens"])
    assert [name for name, _, _ in rows] == ["mfcc", "tokens"]
    assert all(0 <= accuracy <= 1 and seconds > 0 for _, accuracy, seconds in rows)
    out = capsys.readouterr().out
    assert "30 clips, speaker ann held out" in out and "tokens   accuracy" in out
    assert smoke.subsample(speakers, np.asarray(labels), 30, 0).size == 30
