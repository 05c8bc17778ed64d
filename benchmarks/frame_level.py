"""Frame-level probe: which digit is spoken when, in pairs of concatenated digits.

Each test clip joins two spoken digits (different digits, same speaker). Every frame
of :meth:`transform_frames` is labelled with the digit being spoken at its time stamp;
a linear probe (StandardScaler + LogisticRegression) is trained on the frames of the
training speakers' pairs and scored on the held-out speakers' frames (GroupKFold(3)
by speaker). The embedders are pretrained on the single digits of the training
speakers only.

The ``clip`` variant of a row gives every frame its clip embedding instead: a clip
embedding says which two digits occur but not when, so it cannot beat about half of
the frames. ``frames`` must beat it to show that the frame embeddings carry time.

Usage::

    python benchmarks/frame_level.py --epochs 4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.model_selection import GroupKFold

from skaudio import COLAEmbedder
from skaudio.datasets import load_spoken_digits
from skaudio.probing import make_probe

# the settings the recorded results were measured with: the estimators' defaults before 0.2
RECORDED_DEFAULTS = dict(augmentations="none", readout_bands=1)


def make_pairs(waveforms, labels, speakers, n_pairs_per_speaker, rng):
    """Concatenated digit pairs: (clips, first label, second label, boundary s, speaker)."""
    clips, firsts, seconds, boundaries, owners = [], [], [], [], []
    for speaker in np.unique(speakers):
        idx = np.flatnonzero(speakers == speaker)
        for _ in range(n_pairs_per_speaker):
            a, b = rng.choice(idx, 2, replace=False)
            while labels[a] == labels[b]:
                b = rng.choice(idx)
            clips.append(np.concatenate([waveforms[a], waveforms[b]]))
            firsts.append(labels[a])
            seconds.append(labels[b])
            boundaries.append(len(waveforms[a]))
            owners.append(speaker)
    return clips, np.array(firsts), np.array(seconds), np.array(boundaries), np.array(owners)


def frame_features(embedder, clips, firsts, seconds, boundaries, sample_rate):
    """(frame features, clip-embedding features, frame labels, clip index of each frame)."""
    frames, times = embedder.transform_frames(clips)
    clip_embeddings = embedder.transform(clips)
    counts = [len(t) for t in times]
    owner = np.repeat(np.arange(len(clips)), counts)
    time_s = np.concatenate(times)
    labels = np.where(time_s < boundaries[owner] / sample_rate, firsts[owner], seconds[owner])
    return np.concatenate(frames), clip_embeddings[owner], labels, owner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--segment-seconds", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--pairs-per-speaker", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    digits = load_spoken_digits()
    X, y, speakers, sr = digits.data, digits.target, digits.groups, digits.sample_rate
    rng = np.random.default_rng(args.seed)
    pairs, firsts, seconds, boundaries, pair_speakers = make_pairs(
        X, y, speakers, args.pairs_per_speaker, rng
    )
    base = dict(
        sample_rate=sr,
        segment_seconds=args.segment_seconds,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        random_state=args.seed,
        **RECORDED_DEFAULTS,
    )
    rows = {
        "random-init": {**base, "max_epochs": 0},
        "COLA clip": base,
        "COLA clip+frame": {**base, "frame_weight": 1.0},
    }
    print(
        f"{len(pairs)} digit pairs from {len(np.unique(speakers))} speakers, GroupKFold(3) "
        f"by speaker; epochs={args.epochs}, segment={args.segment_seconds} s, "
        f"batch={args.batch_size}, seed={args.seed}",
        flush=True,
    )
    cv = GroupKFold(n_splits=3)
    for name, params in rows.items():
        scores = {"frames": [], "clip": []}
        seconds_fit = []
        names = np.unique(speakers)
        for train_fold, _ in cv.split(names, groups=names):
            train_names = names[train_fold]
            single = np.flatnonzero(np.isin(speakers, train_names))
            start = time.perf_counter()
            fitted = COLAEmbedder(**params).fit([X[i] for i in single])
            seconds_fit.append(time.perf_counter() - start)
            features = frame_features(fitted, pairs, firsts, seconds, boundaries, sr)
            frames, clips, labels, owner = features
            in_train = np.isin(pair_speakers[owner], train_names)
            for kind, Z in (("frames", frames), ("clip", clips)):
                probe = make_probe().fit(Z[in_train], labels[in_train])
                scores[kind].append(probe.score(Z[~in_train], labels[~in_train]))
        print(
            f"{name:<16} frame embeddings {np.mean(scores['frames']):.3f} "
            f"+- {np.std(scores['frames']):.3f}   clip embedding per frame "
            f"{np.mean(scores['clip']):.3f} +- {np.std(scores['clip']):.3f}   "
            f"pretrain {np.mean(seconds_fit):.0f} s/fold",
            flush=True,
        )


if __name__ == "__main__":
    main()
