#!/usr/bin/env python
"""Score ensembles of the fold models of several k-fold runs of scripts/train_audio.py.

    python scripts/ensemble_cv.py runA/cv_report.json runB/cv_report.json [--out ens.json]

Each report gives its models' held-out probabilities for every real clip: every member's with
``--members`` > 1, else the one model's. Runs on the same folds (the same ``--seed``, ``--folds``
and real data; checked by the clips, their order and the folds' sizes) score each clip with
models that never heard its speaker, so averaging their probabilities is a fair k-fold score of
the ensemble. Prints each model alone, then for every ensemble size the mean, lowest and highest
score over all subsets of that size (one subset of all the models: their ensemble).
``--logits`` averages the members' log-probabilities instead, which decides as the mean of their
logits does (train_audio.py --pack); it needs reports with ``--members`` > 1.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_audio import scores  # noqa: E402


def load_models(
    paths: list[Path], logits: bool = False
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(model names, their probabilities (models, clips, 10), the clips' digits (clips,)).

    logits: their log-probabilities instead. Refuses reports whose clips, order or fold sizes
    differ (not the same k-fold split)."""
    names: list[str] = []
    probs: list[np.ndarray] = []
    first = None
    for path in paths:
        cv = json.loads(path.read_text())["cross_validation"]
        key = (
            [(c["clip"], c["speaker"], c["digit"]) for c in cv["clips"]],
            [(f["speakers"], f["real_speakers"]["n"]) for f in cv["per_fold"]],
        )
        if first is None:
            first = key
        elif key != first:
            sys.exit(
                f"error: {path} is not on the same folds as {paths[0]} (its clips, their order "
                "or its folds' sizes differ): run both with the same --seed, --folds and --real"
            )
        if logits:
            if "member_log_probabilities" not in cv["clips"][0]:
                sys.exit(
                    f"error: {path} has no member_log_probabilities (--logits needs a run with "
                    "--members > 1 made by today's train_audio.py)"
                )
            p = np.array([c["member_log_probabilities"] for c in cv["clips"]]).transpose(1, 0, 2)
        elif "member_probabilities" in cv["clips"][0]:
            p = np.array([c["member_probabilities"] for c in cv["clips"]]).transpose(1, 0, 2)
        else:
            p = np.array([[c["probabilities"] for c in cv["clips"]]])
        names += [f"{path.parent.name}[{i + 1}]" for i in range(len(p))]
        probs.append(p)
    digits = np.array([d for _, _, d in first[0]])
    return names, np.concatenate(probs), digits


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="+", type=Path, help="cv_report.json files")
    ap.add_argument(
        "--logits",
        action="store_true",
        help="average log-probabilities (as the mean of logits decides: train_audio.py --pack)",
    )
    ap.add_argument("--out", type=Path, default=None, help="write the scores here (JSON)")
    args = ap.parse_args(argv)
    missing = [str(p) for p in args.reports if not p.is_file()]
    if missing:
        sys.exit(f"error: no such report: {', '.join(missing)}")
    names, probs, y = load_models(args.reports, args.logits)  # probs: (models, clips, 10)
    n = len(y)
    alone = {nm: scores(y, p.argmax(1)) for nm, p in zip(names, probs)}
    for nm, s in alone.items():
        print(f"{nm}: {s['correct']}/{n} = {s['accuracy']:.4f} {s['wilson_95']}")
    sizes = {}
    for k in range(2, len(names) + 1):
        # Every subset of k models: how much a k-model ensemble gains, not one lucky subset.
        correct = [
            int((probs[list(sub)].mean(0).argmax(1) == y).sum())
            for sub in itertools.combinations(range(len(names)), k)
        ]
        sizes[k] = {
            "subsets": len(correct),
            "mean_correct": round(float(np.mean(correct)), 2),
            "min_correct": min(correct),
            "max_correct": max(correct),
        }
        print(
            f"ensembles of {k}: {len(correct)} subsets, mean {np.mean(correct):.1f}/{n}, "
            f"min {min(correct)}, max {max(correct)}"
        )
    every = scores(y, probs.mean(0).argmax(1))
    print(
        f"all {len(names)}: {every['correct']}/{n} = {every['accuracy']:.4f} {every['wilson_95']}"
    )
    if args.out:
        report = {
            "reports": [str(p) for p in args.reports],
            "averaged": "log-probabilities" if args.logits else "probabilities",
            "models": alone,
            "ensembles_by_size": sizes,
            "ensemble_of_all": every,
        }
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
