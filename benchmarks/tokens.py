"""Token transformer: probe accuracy per codebook size, next-token accuracy vs n-gram
baselines, codebook usage and time per stage.

Each embedder is pretrained on the training folds only and probed with
StandardScaler + LogisticRegression on the held-out fold. Next-token accuracy is
measured on the held-out clips' tokens (and on the training clips', to tell
under-fitting from over-fitting), against the most frequent token (unigram), the
most frequent successor of the previous token (bigram), both counted on the training
clips' tokens of the same fold, and repeating the previous token.

Usage::

    python benchmarks/tokens.py digits gm_family --epochs 4 --tokens 16 64 256
    python benchmarks/tokens.py digits --tokens 16 --only-trained --set corrupt_probability=0

``--set name=value`` passes further estimator parameters (numbers or words);
``--only-trained`` skips the MFCC and random-init rows.
"""

from __future__ import annotations

import argparse

import numpy as np
from _tasks import TASKS, add_data_arguments, load_task
from sklearn.model_selection import GroupKFold

from skaudio import MFCCStatistics, TokenTransformerEmbedder
from skaudio.probing import cross_validate_probe


def ngram_accuracies(train: list[np.ndarray], test: list[np.ndarray], n_tokens: int):
    """(unigram, bigram, repeat) next-token accuracy on ``test``, counts from ``train``."""
    unigram = np.bincount(np.concatenate(train), minlength=n_tokens)
    pairs = np.zeros((n_tokens, n_tokens), dtype=np.int64)
    for s in train:
        np.add.at(pairs, (s[:-1], s[1:]), 1)
    best_next = np.where(pairs.sum(axis=1) > 0, pairs.argmax(axis=1), unigram.argmax())
    previous = np.concatenate([s[:-1] for s in test])
    following = np.concatenate([s[1:] for s in test])
    return (
        float(np.mean(following == unigram.argmax())),
        float(np.mean(following == best_next[previous])),
        float(np.mean(following == previous)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+", choices=TASKS)
    parser.add_argument("--tokens", nargs="+", type=int, default=[16, 64, 256])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--autoencoder-width", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    add_data_arguments(parser)
    parser.add_argument("--splits", type=int, default=None, help="override the task's folds")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE")
    parser.add_argument("--only-trained", action="store_true")
    args = parser.parse_args()
    extra = {}
    for item in args.set:
        name, _, value = item.partition("=")
        try:
            extra[name] = int(value)
        except ValueError:
            try:
                extra[name] = float(value)
            except ValueError:
                extra[name] = value

    for task in args.tasks:
        X, y, groups, sr, n_splits = load_task(
            task,
            args.splits,
            data_dir=args.data_dir,
            max_clips=args.max_clips,
            random_state=args.seed,
        )
        cv = GroupKFold(n_splits=n_splits)
        print(
            f"\ntask={task}: {len(X)} clips, {len(np.unique(y))} classes, "
            f"GroupKFold({n_splits}); epochs per stage={args.epochs}, "
            f"autoencoder width={args.autoencoder_width}, batch={args.batch_size}, "
            f"seed={args.seed}, other parameters {extra or 'at their defaults'}",
            flush=True,
        )
        if not args.only_trained:
            mfcc = cross_validate_probe(MFCCStatistics(sample_rate=sr), X, y, groups, cv)
            print(f"{'mfcc':<18} {mfcc}")
        for n_tokens in args.tokens:
            for epochs in (args.epochs,) if args.only_trained else (0, args.epochs):
                embedder = TokenTransformerEmbedder(
                    sample_rate=sr,
                    n_tokens=n_tokens,
                    autoencoder_width=args.autoencoder_width,
                    batch_size=args.batch_size,
                    max_epochs=epochs,
                    random_state=args.seed,
                    **extra,
                )
                result = cross_validate_probe(embedder, X, y, groups, cv)
                name = f"tokens={n_tokens}" + ("" if epochs else " random")
                fitted = result.embedders
                stages = {
                    k: np.mean([e.stage_seconds_[k] for e in fitted])
                    for k in fitted[0].stage_seconds_
                }
                print(
                    f"{name:<18} {result}  usage {np.mean([e.codebook_usage_ for e in fitted]):.2f}"
                    f", perplexity {np.mean([e.perplexity_ for e in fitted]):.1f}, s/fold: "
                    + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()),
                    flush=True,
                )
                if not epochs:
                    continue
                scores = []
                for est, (train, test) in zip(fitted, cv.split(X, y, groups), strict=True):
                    train_tokens = est.tokenize([X[i] for i in train])
                    test_tokens = est.tokenize([X[i] for i in test])
                    baselines = ngram_accuracies(train_tokens, test_tokens, n_tokens)
                    _, train_bigram, _ = ngram_accuracies(train_tokens, train_tokens, n_tokens)
                    model = est.next_token_accuracy([X[i] for i in test])
                    on_train = est.next_token_accuracy([X[i] for i in train])
                    scores.append((model, *baselines, on_train, train_bigram))
                model, unigram, bigram, repeat, on_train, train_bigram = np.mean(scores, axis=0)
                print(
                    f"{'':<18} next-token accuracy on held-out clips: transformer {model:.3f}, "
                    f"bigram {bigram:.3f}, repeat previous {repeat:.3f}, unigram {unigram:.3f}; "
                    f"on training clips: transformer {on_train:.3f}, bigram {train_bigram:.3f}",
                    flush=True,
                )
                if getattr(fitted[0], "best_epoch_", None) is not None:
                    print(
                        f"{'':<18} early stopping: epochs run "
                        + " ".join(str(len(e.history_)) for e in fitted)
                        + ", kept "
                        + " ".join(str(e.best_epoch_) for e in fitted),
                        flush=True,
                    )


if __name__ == "__main__":
    main()
