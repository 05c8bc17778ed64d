import os

import numpy as np
import pytest
import soundfile as sf
import torch

from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, CPCEmbedder, TokenTransformerEmbedder
from skaudio.datasets import make_tones

os.environ.setdefault("MPLBACKEND", "Agg")  # plots are drawn off-screen
if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n N: N processes, one torch thread each
    torch.set_num_threads(1)  # (N processes of 2+ threads on 2 cores run several times slower)

#: with SKAUDIO_CHECK_DURATIONS=1, a test not marked slow fails when its setup or its
#: call takes longer than this (seconds; SKAUDIO_FAST_LIMIT_S): make test-fast stays fast
FAST_LIMIT_S = float(os.environ.get("SKAUDIO_FAST_LIMIT_S", "5"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("SKAUDIO_CHECK_DURATIONS") == "1"
        and report.when in ("setup", "call")
        and report.passed
        and item.get_closest_marker("slow") is None
        and call.duration > FAST_LIMIT_S
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"{report.when} took {call.duration:.1f} s, more than {FAST_LIMIT_S:g} s for a "
            "test not marked slow: mark it @pytest.mark.slow or make it cheaper"
        )


SR = 8000

#: small, fast settings shared by the embedder tests
SMALL = dict(
    sample_rate=SR,
    segment_seconds=0.25,
    n_mels=32,
    embedding_dim=16,
    projection_dim=16,
    batch_size=16,
    max_epochs=1,
    random_state=0,
)


#: the tiny CPC of the CPC test modules (test_cpc_negatives, _groups, _channel_norm); ``lr``
#: stays the former default, 2e-4, that their recorded losses were made with
CPC_TINY = dict(
    sample_rate=SR,
    segment_seconds=0.25,
    z_dim=8,
    c_dim=8,
    n_predict=3,
    encoder_width=8,
    batch_size=8,
    max_epochs=2,
    lr=2e-4,
    random_state=0,
)


@pytest.fixture(scope="module")
def cpc_tones():
    """The CPC test modules' data: 16 labelled tones at 8 kHz, (waveforms, labels)."""
    return make_tones(n_clips=16, n_classes=4, sample_rate=SR, random_state=0)


@pytest.fixture(scope="module")
def cpc_clips(cpc_tones):
    """The waveforms of :func:`cpc_tones`."""
    return cpc_tones[0]


def multi_strategy_cola(**params):
    """COLA with the frame-level and pitch-shift losses of Kuroyanagi & Komatsu."""
    return COLAEmbedder(frame_weight=1.0, pitch_weight=1.0, **params)


def cpc(*, segment_seconds, embedding_dim, projection_dim, **params):
    """CPC at the shared small settings: the window is the segment, c_t has embedding_dim.

    The encoder is 64 channels wide instead of 512: the same network, a 20th of the cost.
    """
    return CPCEmbedder(
        segment_seconds=segment_seconds,
        z_dim=embedding_dim,
        c_dim=embedding_dim,
        n_predict=3,
        encoder_width=64,
        **params,
    )


def token_transformer(*, segment_seconds, embedding_dim, projection_dim, **params):
    """Token transformer at small settings: 5 tokens of 50 ms give the 0.25 s context."""
    assert segment_seconds == 0.25
    return TokenTransformerEmbedder(
        patch_frames=5,
        context_tokens=5,
        n_tokens=8,
        autoencoder_width=32,
        embedding_dim=embedding_dim,
        **params,
    )


EMBEDDERS = [COLAEmbedder, ContrastiveAudioEmbedder, multi_strategy_cola, cpc, token_transformer]
#: embedders whose clip embedding is the mean over windows of mean||max-pooled frames
WINDOWED = {COLAEmbedder, ContrastiveAudioEmbedder, multi_strategy_cola}


@pytest.fixture(scope="session")
def tones():
    """A small labelled synthetic task: (list of waveforms, labels) at 8 kHz."""
    return make_tones(n_clips=48, n_classes=4, sample_rate=SR, random_state=0)


@pytest.fixture
def wav_files(tmp_path):
    """Three files: mono 8 kHz WAV, stereo 16 kHz FLAC, mono int16 WAV."""
    rng = np.random.default_rng(0)
    mono = (0.1 * rng.standard_normal(4000)).astype(np.float32)
    stereo = (0.1 * rng.standard_normal((8000, 2))).astype(np.float32)
    paths = [tmp_path / "a.wav", tmp_path / "b.flac", tmp_path / "c.wav"]
    sf.write(paths[0], mono, SR, subtype="FLOAT")
    sf.write(paths[1], stereo, 2 * SR)
    sf.write(paths[2], mono, SR, subtype="PCM_16")
    return paths, mono, stereo
