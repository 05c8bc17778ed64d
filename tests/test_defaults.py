"""The defaults of COLA and the two-view estimator: the waveform policy, ``readout_bands="auto"``.

``"auto"`` is 2 bands where the encoder keeps a frequency axis that holds them, else
1; ``fit`` resolves it into ``readout_bands_``, and ``get_params`` keeps ``"auto"``.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from skaudio import COLAEmbedder, ContrastiveAudioEmbedder, make_byol_a
from skaudio.augment import make_policy
from skaudio.datasets import make_tones
from skaudio.encoders import CNNEncoder, VGGEncoder, make_encoder

TINY = dict(
    sample_rate=8000, segment_seconds=0.25, embedding_dim=16, projection_dim=8, batch_size=8
)
ESTIMATORS = [COLAEmbedder, ContrastiveAudioEmbedder]


@pytest.fixture(scope="module")
def X():
    return make_tones(n_clips=8, n_classes=2, sample_rate=8000, random_state=0)[0]


def _untrained(cls, X, **params):
    return cls(**{**TINY, "max_epochs": 0, "random_state": 0, **params}).fit(X)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_defaults_are_the_waveform_policy_and_auto_readout(cls):
    params = cls().get_params()
    assert params["augmentations"] == "waveform" and params["readout_bands"] == "auto"


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize(
    ("params", "bands"),
    [
        ({}, 2),  # the default CNN at the default 64 mel bands: 4 frequency rows left
        ({"n_mels": 16}, 1),  # 16 mels / 16: a single frequency row
        ({"n_mels": 32}, 2),
        ({"encoder": "vgg", "n_mels": 64}, 2),
        ({"encoder": "resnet18"}, 1),  # no frequency-keeping readout
        ({"embedding_dim": 18}, 1),  # 9 channels per frame do not split into 2 bands
        ({"readout_bands": 1}, 1),  # integers are taken as given
        ({"readout_bands": 4}, 4),
    ],
)
def test_auto_resolves_to_two_bands_where_the_encoder_keeps_frequency(cls, X, params, bands):
    embedder = _untrained(cls, X, **params)
    assert embedder.readout_bands_ == bands
    assert getattr(embedder.net_.module_.encoder, "readout_bands", 1) == bands
    assert embedder.transform(X[:2]).shape == (2, embedder.embedding_dim)
    assert embedder.get_params()["readout_bands"] == params.get("readout_bands", "auto")


def test_auto_is_one_band_for_a_waveform_encoder(X):
    embedder = _untrained(
        ContrastiveAudioEmbedder, X, input_representation="waveform", encoder="resnet18"
    )
    assert embedder.readout_bands_ == 1


def _accepts_two_bands(cls, n_mels, embedding_dim) -> bool:
    """Whether the encoder at its default channels builds with 2 bands (its own checks)."""
    try:
        cls(n_mels=n_mels, embedding_dim=embedding_dim, readout_bands=2)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("cls", [CNNEncoder, VGGEncoder])
def test_auto_is_two_exactly_where_the_encoder_accepts_two_bands(cls):
    name = "cnn" if cls is CNNEncoder else "vgg"
    seen = set()
    for n_mels in (1, 8, 9, 15, 16, 17, 32, 33, 64):
        for embedding_dim in (2, 4, 6, 8):
            expected = 2 if _accepts_two_bands(cls, n_mels, embedding_dim) else 1
            encoder = make_encoder(
                name, n_mels=n_mels, embedding_dim=embedding_dim, readout_bands="auto"
            )
            assert encoder.readout_bands == expected, (n_mels, embedding_dim)
            seen.add(expected)
    assert seen == {1, 2}


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_clone_and_get_params_keep_auto(cls, X):
    embedder = _untrained(cls, X)
    assert clone(embedder).get_params()["readout_bands"] == "auto"
    assert not hasattr(clone(embedder), "readout_bands_")
    with pytest.raises(InvalidParameterError, match="readout_bands"):
        cls(**TINY, readout_bands="two").fit(X)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_the_random_init_twin_resolves_the_same(cls, X):
    trained = cls(**TINY, max_epochs=1, random_state=0).fit(X)
    twin = _untrained(cls, X)
    assert trained.readout_bands_ == twin.readout_bands_ == 2


@pytest.mark.parametrize(
    ("cls", "old"), [(COLAEmbedder, "none"), (ContrastiveAudioEmbedder, "spectrogram")]
)
def test_the_random_init_twin_embeds_the_same_under_any_policy(cls, old, X):
    # why the untrained rows of the benchmarks and the demo are unchanged by the new
    # default policy: an untrained encoder's weights are drawn before any augmentation
    # seed, and transform never augments
    new = _untrained(cls, X).transform(X)
    np.testing.assert_array_equal(_untrained(cls, X, augmentations=old).transform(X), new)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_the_default_policy_augments_every_training_view(cls, X):
    model = _untrained(cls, X).net_.module_
    expected = [type(aug) for aug in make_policy("waveform")]
    assert [type(aug) for aug in model.waveform_augmentations] == expected
    assert expected and not model.spectrogram_augmentations
    plain = _untrained(COLAEmbedder, X, augmentations="none").net_.module_
    assert not plain.waveform_augmentations and not plain.spectrogram_augmentations


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("readout_bands", [1, 2])
def test_pickles_fitted_before_readout_bands_resolved_still_transform(cls, X, readout_bands):
    embedder = _untrained(cls, X, readout_bands=readout_bands)
    Z = embedder.transform(X)
    del embedder.readout_bands_  # what a pickle of an earlier release holds
    loaded = pickle.loads(pickle.dumps(embedder))
    assert loaded.readout_bands_ == readout_bands
    np.testing.assert_array_equal(loaded.transform(X), Z)
    assert loaded.get_params()["readout_bands"] == readout_bands


def test_byol_a_keeps_its_own_readout_and_policy():
    embedder = make_byol_a()
    assert (embedder.readout_bands, embedder.augmentations) == (4, "byol-a")
