"""Renamed names keep working: they warn (FutureWarning), and old pickles still load."""

import copyreg
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone

import skaudio.augment as A
import skaudio.data
from skaudio import ContrastiveAudioEmbedder, CPCEmbedder
from skaudio.augment import spectrogram
from skaudio.clips import as_clips
from skaudio.datasets import make_tones
from skaudio.estimators.cpc import DEFAULT_SEGMENT_SECONDS

SR = 8000
X, _ = make_tones(n_clips=8, n_classes=2, sample_rate=SR, random_state=0)
CPC = dict(sample_rate=SR, z_dim=8, c_dim=8, encoder_width=8, n_predict=2, batch_size=4)
CPC.update(max_epochs=1, random_state=0)

#: former name -> new class, for the spectrogram augmentations renamed in 0.2
RENAMED = {
    "AmplitudeScaling": A.SpecGain,
    "AdditiveNoise": A.SpecNoise,
    "TimeMasking": A.SpecTimeMask,
    "FrequencyMasking": A.SpecFrequencyMask,
}


class _AsPickledBefore:
    """Pickles as ``cls`` with ``state``, as pickle wrote it before a rename.

    ``pickle`` writes an object as a reference to its class (module and name) plus its
    ``__dict__`` (protocol 2+: ``copyreg.__newobj__``); this writes the same bytes for
    a class reference and a state of our choosing.
    """

    def __init__(self, cls, state):
        self.cls, self.state = cls, state

    @property
    def __class__(self):  # what pickle checks the class reference against
        return self.cls

    def __reduce__(self):
        return copyreg.__newobj__, (self.cls,), self.state


# -- CPCEmbedder: window_seconds -> segment_seconds ---------------------------------------


def test_cpc_window_seconds_is_a_deprecated_alias_of_segment_seconds():
    new = CPCEmbedder(segment_seconds=0.25, **CPC)
    assert new.get_params()["window_seconds"] == "deprecated"
    # window_seconds counts as set alone while segment_seconds keeps its default (0.32,
    # since the CPU recipe; the former default of both names, 1.28, is now a value set)
    assert CPCEmbedder().segment_seconds == DEFAULT_SEGMENT_SECONDS == 0.32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new.fit(X)
    old = CPCEmbedder(window_seconds=0.25, **CPC)
    with pytest.warns(FutureWarning, match=r"window_seconds was renamed segment_seconds.*0\.4"):
        old.fit(X)
    assert old.segment_length_ == new.segment_length_ == 2000
    np.testing.assert_array_equal(old.transform(X), new.transform(X))
    assert clone(old).get_params()["window_seconds"] == 0.25


def test_cpc_refuses_both_names_of_the_crop():
    both = CPCEmbedder(segment_seconds=0.5, window_seconds=0.25, **CPC)
    with pytest.raises(ValueError, match="both segment_seconds=0.5 and window_seconds=0.25"):
        both.fit(X)
    both = CPCEmbedder(segment_seconds=1.28, window_seconds=0.25, **CPC)  # the former default
    with pytest.raises(ValueError, match="both segment_seconds=1.28 and window_seconds=0.25"):
        both.fit(X)


def test_cpc_crop_errors_name_the_parameter_that_was_set():
    with pytest.raises(
        ValueError, match=r"segment_seconds=1e-05 gives 1 frame.*segment_seconds >="
    ):
        CPCEmbedder(**{**CPC, "segment_seconds": 1e-5}).fit(X)
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="window_seconds=1e-05 gives"):
        CPCEmbedder(**{**CPC, "window_seconds": 1e-5}).fit(X)


def test_cpc_pickled_before_the_rename_loads_and_embeds_the_same():
    fitted = CPCEmbedder(segment_seconds=0.25, **CPC).fit(X)
    state = fitted.__getstate__()
    # what the pickle of an estimator fitted before 0.2 holds: no segment_seconds
    state = {k: v for k, v in state.items() if k != "segment_seconds"}
    state["window_seconds"] = 0.25
    loaded = pickle.loads(pickle.dumps(_AsPickledBefore(CPCEmbedder, state)))
    assert type(loaded) is CPCEmbedder
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loading and embedding do not warn
        np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
    assert loaded.get_params()["segment_seconds"] == 0.25
    assert loaded.get_params()["window_seconds"] == "deprecated"
    # and a pickle of today's estimator round-trips as it is
    again = pickle.loads(pickle.dumps(fitted))
    assert again.get_params() == fitted.get_params()


def test_cpc_checkpoints_resume_across_the_rename(tmp_path):
    with pytest.warns(FutureWarning):  # a checkpoint written under the former name
        CPCEmbedder(window_seconds=0.25, checkpoint_dir=tmp_path, **CPC).fit(X)
    resumed = CPCEmbedder(**{**CPC, "max_epochs": 2}, segment_seconds=0.25, checkpoint_dir=tmp_path)
    resumed.fit(X)
    straight = CPCEmbedder(**{**CPC, "max_epochs": 2}, segment_seconds=0.25).fit(X)
    assert len(resumed.history_) == 2
    np.testing.assert_array_equal(resumed.transform(X), straight.transform(X))


def test_cpc_checkpoint_manifest_keeps_the_key_it_had_before_the_rename():
    clips = as_clips(X, sample_rate=SR)
    manifest = CPCEmbedder(segment_seconds=0.25, **CPC)._checkpoint_manifest("cpc", clips)
    params = set(CPCEmbedder().get_params())
    # every learning parameter under its name of before 0.2, the crop under window_seconds;
    # those of _UNRECORDED_DEFAULTS only away from their defaults (not the case here)
    unrecorded = set(CPCEmbedder._UNRECORDED_DEFAULTS)
    recorded = params - CPCEmbedder._RUN_ONLY_PARAMS - {"segment_seconds"} - unrecorded
    assert set(manifest) & params == recorded
    assert manifest["window_seconds"] == "0.25"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        old = CPCEmbedder(window_seconds=0.25, **CPC)._checkpoint_manifest("cpc", clips)
    assert old == manifest


# -- augmentations: the spectrogram twins of waveform augmentations carry "Spec" -----------


@pytest.mark.parametrize("old_name", RENAMED)
def test_former_augmentation_names_warn_and_build_the_new_class(old_name):
    new = RENAMED[old_name]
    old = getattr(A, old_name)
    assert getattr(spectrogram, old_name) is old
    assert old_name not in A.__all__ and old_name not in spectrogram.__all__
    assert new.__name__ in A.__all__
    with pytest.warns(FutureWarning, match=rf"{old_name} was renamed {new.__name__} in 0\.2"):
        aug = old()
    assert type(aug) is new and aug == new() and repr(aug) == repr(new())
    assert isinstance(new(), old) and issubclass(new, old)
    assert aug.domain == "spectrogram"


@pytest.mark.parametrize("old_name", RENAMED)
def test_augmentations_pickled_under_their_former_names_load_as_the_new_class(old_name):
    new = RENAMED[old_name]
    field = next(iter(vars(new())))
    state = {field: 0.3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = pickle.loads(pickle.dumps(_AsPickledBefore(getattr(spectrogram, old_name), state)))
    assert type(loaded) is new and loaded == new(**state)


def test_an_estimator_pickled_with_former_augmentation_names_loads():
    augs = [A.Gain(6.0), A.SpecTimeMask(0.1), A.SpecGain(5.0), A.SpecNoise(2.0)]
    before = [_AsPickledBefore(A.Gain, vars(augs[0]))] + [
        _AsPickledBefore(getattr(spectrogram, old), vars(aug))
        for old, aug in zip(
            ["TimeMasking", "AmplitudeScaling", "AdditiveNoise"], augs[1:], strict=True
        )
    ]
    estimator = ContrastiveAudioEmbedder(augmentations=before)
    loaded = pickle.loads(pickle.dumps(estimator))
    assert loaded.augmentations == augs
    assert [type(a) for a in loaded.augmentations] == [type(a) for a in augs]


def test_former_names_build_the_same_views():
    import torch

    x = torch.randn(3, 16, 20, generator=torch.Generator().manual_seed(0))
    for old_name, new in RENAMED.items():
        with pytest.warns(FutureWarning):
            old = getattr(A, old_name)()
        a = old(x, torch.Generator().manual_seed(1))
        b = new()(x, torch.Generator().manual_seed(1))
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- datasets: the training crop is a segment --------------------------------------------


def test_dataset_former_names_are_the_renamed_classes():
    assert skaudio.data.WindowDataset is skaudio.data.SegmentDataset
    assert skaudio.data.TokenWindowDataset is skaudio.data.TokenContextDataset
    assert "SegmentDataset" in skaudio.data.__all__
    assert "WindowDataset" not in skaudio.data.__all__


def test_checkpoints_of_augmentations_under_their_former_names_resume(tmp_path):
    # a checkpoint written before 0.2 stores repr(augmentations) as "TimeMasking(...)"
    import torch

    params = dict(sample_rate=SR, n_mels=16, embedding_dim=8, projection_dim=8, batch_size=4)
    params.update(segment_seconds=0.25, random_state=0, augmentations=[A.SpecTimeMask(0.2)])
    ContrastiveAudioEmbedder(**params, max_epochs=1, checkpoint_dir=tmp_path).fit(X)
    (path,) = [p for p in tmp_path.rglob("*") if p.is_file() and "manifest" not in p.name]
    state = torch.load(path, weights_only=True)
    stored = state["manifest"]["augmentations"]
    assert "SpecTimeMask(" in stored
    state["manifest"]["augmentations"] = stored.replace("SpecTimeMask(", "TimeMasking(")
    torch.save(state, path)
    resumed = ContrastiveAudioEmbedder(**params, max_epochs=2, checkpoint_dir=tmp_path).fit(X)
    straight = ContrastiveAudioEmbedder(**params, max_epochs=2).fit(X)
    assert len(resumed.history_) == 2
    np.testing.assert_array_equal(resumed.transform(X), straight.transform(X))
