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
logits does (train_audio.py --pack); it needs reports that keep them (each member's with
``--members`` > 1, else the one model's).

``--merge OUT`` writes the k-fold report that one run with all their members would have written
(``--members`` their total; the packed decision, the mean of log-probabilities), from reports of
one command that differ only in ``--members``/``--first-member`` and number their members 1, 2,
... without a gap. ``train_audio.py ... --members N --pack --cv-from OUT`` then trains the final
model without training the fold models again (with ``--members-from``, the earlier members too).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_audio import SEED, command_settings, scores, speaker_folds  # noqa: E402

MEMBER_OPTIONS = ("--members", "--first-member")


def option(command: str, name: str, default: int) -> int:
    """The integer value of option name in a recorded command (or default)."""
    words = shlex.split(command)
    for i, w in enumerate(words):
        if w == name:
            return int(words[i + 1])
        if w.startswith(name + "="):
            return int(w.split("=", 1)[1])
    return default


def merge(paths: list[Path]) -> dict:
    """One k-fold report with every member of these reports (see the module's docstring)."""
    reports = [json.loads(p.read_text()) for p in paths]
    base = command_settings(reports[0]["command"], MEMBER_OPTIONS)
    for p, r in zip(paths, reports):
        if command_settings(r["command"], MEMBER_OPTIONS) != base:
            sys.exit(
                f"error: --merge: {p} was made by {r['command']!r}, {paths[0]} by "
                f"{reports[0]['command']!r}; expected one command, --members and "
                "--first-member aside"
            )
    order = sorted(
        range(len(reports)), key=lambda i: option(reports[i]["command"], "--first-member", 1)
    )
    reports, paths = [reports[i] for i in order], [paths[i] for i in order]
    sizes = [option(r["command"], "--members", 1) for r in reports]
    firsts = [option(r["command"], "--first-member", 1) for r in reports]
    if firsts != [1 + sum(sizes[:i]) for i in range(len(sizes))] or min(sizes) < 2:
        sys.exit(
            f"error: --merge: the reports hold members {firsts} onwards, {sizes} each; expected "
            "members numbered 1, 2, ... without a gap or overlap, 2 or more per report"
        )
    cvs = [r["cross_validation"] for r in reports]
    clips = cvs[0]["clips"]
    log_p = np.concatenate(
        [np.array([c["member_log_probabilities"] for c in cv["clips"]]) for cv in cvs], axis=1
    )  # (clips, members, 10)
    member_p = np.concatenate(
        [np.array([c["member_probabilities"] for c in cv["clips"]]) for cv in cvs], axis=1
    )
    mean_log = log_p.mean(1)  # the packed model's logits up to a per-clip constant
    packed_p = np.exp(mean_log - mean_log.max(1, keepdims=True))
    packed_p /= packed_p.sum(1, keepdims=True)
    pred = mean_log.argmax(1)
    y = np.array([c["digit"] for c in clips])
    cut = np.array([c["cut_mid_word"] for c in clips])
    k = cvs[0]["folds"]
    fold = speaker_folds(
        np.array([c["speaker"] for c in clips]), k, option(reports[0]["command"], "--seed", SEED)
    )
    if [int((fold == i).sum()) for i in range(k)] != [
        f["real_speakers"]["n"] for f in cvs[0]["per_fold"]
    ]:
        sys.exit("error: --merge: the folds recomputed from the clips differ from the reports'")
    per_fold = []
    for i, f in enumerate(cvs[0]["per_fold"]):
        on = fold == i
        s = scores(y[on], pred[on])
        per_fold.append(
            {
                "fold": f["fold"],
                "speakers": f["speakers"],
                "real_speakers": {m: s[m] for m in ("accuracy", "n", "correct")},
                "seconds": round(sum(cv["per_fold"][i]["seconds"] for cv in cvs), 1),
                **{m: f[m] for m in ("epochs", "clips_per_epoch")},
                "members_correct": [
                    int((member_p[on, m].argmax(1) == y[on]).sum())
                    for m in range(member_p.shape[1])
                ],
                "ensemble_correct": int((member_p[on].mean(1).argmax(1) == y[on]).sum()),
            }
        )
    words = shlex.split(reports[0]["command"])
    argv = command_settings(reports[0]["command"], ("--first-member",))
    i = argv.index("--members") if "--members" in argv else None
    if i is None:
        argv += ["--members", str(sum(sizes))]
    else:
        argv[i + 1] = str(sum(sizes))
    not_cut = scores(y[~cut], pred[~cut])
    return {
        "command": shlex.join(words[:2] + argv + ["--cv-only"]),
        "merged_from": [r["command"] for r in reports],
        **({"init": reports[0]["init"]} if "init" in reports[0] else {}),
        "cross_validation": {
            "folds": k,
            "speakers": cvs[0]["speakers"],
            "real_speakers": scores(y, pred),
            "real_speakers_not_cut": {
                **not_cut,
                "cut_clips": int(cut.sum()),
                "cut_correct": int((pred[cut] == y[cut]).sum()),
            },
            "members": [scores(y, p.argmax(1)) for p in member_p.transpose(1, 0, 2)],
            "ensemble": scores(y, member_p.mean(1).argmax(1)),
            "per_fold": per_fold,
            "seconds": round(sum(cv["seconds"] for cv in cvs), 1),
            "clips": [
                {
                    **{m: c[m] for m in ("clip", "speaker", "digit", "cut_mid_word")},
                    "predicted": int(pred[n]),
                    "probabilities": [round(float(v), 4) for v in packed_p[n]],
                    "member_probabilities": member_p[n].tolist(),
                    "member_log_probabilities": log_p[n].tolist(),
                }
                for n, c in enumerate(clips)
            ],
        },
    }


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
            if "member_log_probabilities" in cv["clips"][0]:
                p = np.array([c["member_log_probabilities"] for c in cv["clips"]])
                p = p.transpose(1, 0, 2)
            elif "log_probabilities" in cv["clips"][0]:  # one model per fold
                p = np.array([[c["log_probabilities"] for c in cv["clips"]]])
            else:
                sys.exit(
                    f"error: {path} has no log-probabilities (--logits needs a report made by "
                    "today's train_audio.py; rounded probabilities cannot rank as logits do)"
                )
        elif "member_probabilities" in cv["clips"][0]:
            p = np.array([c["member_probabilities"] for c in cv["clips"]]).transpose(1, 0, 2)
        else:
            p = np.array([[c["probabilities"] for c in cv["clips"]]])
        # A run's folder names its cv_report.json; a kept report (scripts/cv_reports/) its file.
        run = path.parent.name if path.stem == "cv_report" else path.stem
        names += [f"{run}[{i + 1}]" for i in range(len(p))]
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
    ap.add_argument(
        "--merge",
        type=Path,
        default=None,
        metavar="OUT",
        help="write the k-fold report of one run with all their members here (for --cv-from)",
    )
    args = ap.parse_args(argv)
    missing = [str(p) for p in args.reports if not p.is_file()]
    if missing:
        sys.exit(f"error: no such report: {', '.join(missing)}")
    if args.merge:
        merged = merge(args.reports)
        args.merge.parent.mkdir(parents=True, exist_ok=True)
        args.merge.write_text(json.dumps(merged, indent=2) + "\n")
        cv = merged["cross_validation"]["real_speakers"]
        print(
            f"wrote {args.merge}: {len(merged['merged_from'])} reports, packed decision "
            f"{cv['correct']}/{cv['n']} = {cv['accuracy']:.4f} {cv['wilson_95']}"
        )
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
