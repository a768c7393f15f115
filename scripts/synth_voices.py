#!/usr/bin/env python
"""Synthesize the spoken digits "zero".."nine" with espeak-ng in many voices, for training.

Run from the repository root:

    nice -n 10 python scripts/synth_voices.py                    # default cache folder
    python scripts/synth_voices.py --out /tmp/synth --max-clips 3000 --max-minutes 10

Writes 8 kHz mono 16-bit WAV files into ``--out`` (default ``~/.cache/layerlab/synth``, outside
the repository: these are generated training data, not shipped) and ``manifest.csv`` there with
columns ``path,digit,word,voice,variant,pitch,speed,text,split`` (path relative to ``--out``).

Voices: the English-family espeak-ng languages (en-gb, en-us, en-gb-scotland, en-gb-x-rp,
en-gb-x-gbclan, en-gb-x-gbcwmd, en-029, en-us-nyc) crossed with every voice variant installed
(``espeak-ng --voices=variant``: m1..m8, f1..f5, croak, whisper, klatt*, and the named ones),
each clip with a random pitch (-p 20..80), speed (-s 120..200 wpm) and final punctuation
(which changes the intonation). espeak-ng writes 22.05 kHz; the audio is resampled to 8 kHz with
soxr (high quality, the resampler core/audio.py uses).

Split: a (voice, variant) combination is ``val`` when its variant is in HELD_VARIANTS or its
voice is in HELD_VOICES; otherwise ``train``. The held-out variants and voice never occur in
training, so ``val`` measures generalisation to unheard synthetic voices.

Deterministic: the job list and each clip's parameters depend only on ``--seed`` and the installed
voices (each clip's parameters are drawn from an RNG seeded by its own key, so ``--max-clips`` or
``--shard`` never change what a given clip is). Existing files are skipped, so a run can be
interrupted and resumed; files are written to a temporary name and renamed, so parallel runs
(e.g. ``--shard 0/2`` and ``--shard 1/2``) never see half-written files. The manifest lists every
clip of the job list that exists on disk when the run ends.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
VOICES = [
    "en-gb",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
]
# Held out for validation: never used for training.
HELD_VOICES = ["en-gb-x-gbcwmd"]
HELD_VARIANTS = [
    "f4",
    "m3",
    "klatt3",
    "whisperf",
    "steph2",
    "Andy",
    "grandma",
    "belinda",
    "iven3",
    "Denis",
    "robosoft4",
    "michel",
]
EXCLUDED_VARIANTS = {"fast"}  # a speed test, not a voice
PITCH = (20, 80)
SPEED = (120, 200)
PUNCTUATION = ["", ".", "!", "?", ","]
SR = 8000
DEFAULT_OUT = Path.home() / ".cache" / "layerlab" / "synth"
FIELDS = ["path", "digit", "word", "voice", "variant", "pitch", "speed", "text", "split"]


def _espeak_voices(which: str) -> list[str]:
    """The lines of `espeak-ng --voices=<which>`, its header line dropped."""
    out = subprocess.run(
        ["espeak-ng", f"--voices={which}"], capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()[1:]


def installed_variants() -> list[str]:
    """Variant names usable with -v lang+NAME (file names in espeak-ng-data/voices/!v)."""
    names = set()
    for line in _espeak_voices("variant"):
        m = re.search(r"!v/(\S+)", line)
        if m and m.group(1) not in EXCLUDED_VARIANTS:
            names.add(m.group(1))
    return sorted(names, key=str.lower)


def installed_languages() -> set[str]:
    """English language codes with an espeak-ng voice (mbrola's mb/ voices skipped)."""
    rows = [line.split() for line in _espeak_voices("en")]
    return {p[1] for p in rows if len(p) >= 5 and p[4].startswith("gmw/")}


def split_of(voice: str, variant: str) -> str:
    return "val" if voice in HELD_VOICES or variant in HELD_VARIANTS else "train"


def _rng(seed: int, key: str) -> np.random.Generator:
    h = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def job_list(seed: int, per_digit: int, voices: list[str], variants: list[str]) -> list[dict]:
    """Every clip: its parameters and file name. Shuffled (seeded) so a partial run covers all
    voices; each clip's parameters come from its own key, independent of the others."""
    jobs = []
    for voice in voices:
        for variant in variants:
            for digit in range(10):
                for k in range(per_digit):
                    key = f"{voice}+{variant}/{digit}/{k}"
                    r = _rng(seed, key)
                    pitch = int(r.integers(PITCH[0], PITCH[1] + 1))
                    speed = int(r.integers(SPEED[0], SPEED[1] + 1))
                    text = WORDS[digit] + PUNCTUATION[int(r.integers(len(PUNCTUATION)))]
                    name = f"{digit}_{voice}+{variant}_p{pitch}_s{speed}_{k}.wav"
                    jobs.append(
                        dict(
                            path=f"{voice}/{name}",
                            digit=digit,
                            word=WORDS[digit],
                            voice=voice,
                            variant=variant,
                            pitch=pitch,
                            speed=speed,
                            text=text,
                            split=split_of(voice, variant),
                        )
                    )
    order = np.random.default_rng(seed).permutation(len(jobs))
    return [jobs[i] for i in order]


def synth_one(job: dict, out: Path) -> str:
    """Synthesize one clip (skips it if present). Returns 'made', 'skipped' or 'failed: ...'."""
    import soundfile as sf
    import soxr

    dest = out / job["path"]
    if dest.exists():
        return "skipped"
    cmd = [
        "espeak-ng",
        "-v",
        f"{job['voice']}+{job['variant']}",
        "-p",
        str(job["pitch"]),
        "-s",
        str(job["speed"]),
        "--stdout",
        job["text"],
    ]
    try:
        wav = subprocess.run(cmd, capture_output=True, check=True, timeout=30).stdout
        y, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=False)
    except Exception as e:  # noqa: BLE001 - report and go on
        return f"failed: {' '.join(cmd)}: {e}"
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.size == 0 or np.max(np.abs(y)) < 1e-4:
        return f"failed: {' '.join(cmd)}: no audio"
    if sr != SR:
        y = soxr.resample(y, sr, SR, quality="HQ")
    y = np.clip(y, -1.0, 1.0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    sf.write(tmp, y, SR, subtype="PCM_16", format="WAV")
    os.replace(tmp, dest)
    return "made"


def write_manifest(out: Path, jobs: list[dict]) -> int:
    rows = [j for j in jobs if (out / j["path"]).exists()]
    rows.sort(key=lambda j: j["path"])
    tmp = out / f".manifest.csv.{os.getpid()}.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out / "manifest.csv")
    return len(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--out", default=str(DEFAULT_OUT), help=f"cache folder (default: {DEFAULT_OUT})"
    )
    ap.add_argument(
        "--per-digit",
        type=int,
        default=2,
        help="clips per digit per (voice, variant) combination (default: 2)",
    )
    ap.add_argument(
        "--max-clips",
        type=int,
        default=None,
        help="synthesize at most this many new clips (default: all)",
    )
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop starting new clips after this many minutes",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel espeak-ng processes (default: CPU count)",
    )
    ap.add_argument(
        "--shard",
        default="0/1",
        help="i/n: do only every n-th job starting at i (for parallel machines)",
    )
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args(argv)

    if shutil.which("espeak-ng") is None:
        sys.exit("error: espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    langs = installed_languages()
    voices = [v for v in VOICES if v in langs]
    missing = [v for v in VOICES if v not in langs]
    variants = installed_variants()
    if not voices or not variants:
        sys.exit(f"error: espeak-ng has none of the voices {VOICES} or no variants")
    jobs = job_list(args.seed, args.per_digit, voices, variants)
    i, n = (int(x) for x in args.shard.split("/"))
    mine = jobs[i::n]
    n_val = sum(j["split"] == "val" for j in jobs)
    print(
        f"{len(voices)} voices x {len(variants)} variants x 10 digits x {args.per_digit} = "
        f"{len(jobs)} clips ({n_val} held out for validation); this shard: {len(mine)}"
        + (f"; voices not installed: {missing}" if missing else ""),
        flush=True,
    )

    t0 = time.time()
    made = skipped = failed = 0
    deadline = t0 + 60 * args.max_minutes if args.max_minutes else None
    todo = iter(mine)
    with cf.ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        running: set = set()
        while True:
            while len(running) < 2 * max(1, args.workers):
                if args.max_clips is not None and made + len(running) >= args.max_clips:
                    break
                if deadline is not None and time.time() > deadline:
                    break
                job = next(todo, None)
                if job is None:
                    break
                if (out / job["path"]).exists():
                    skipped += 1
                    continue
                running.add(pool.submit(synth_one, job, out))
            if not running:
                break
            done, running = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                res = fut.result()
                if res == "made":
                    made += 1
                    if made % 500 == 0:
                        el = time.time() - t0
                        print(f"  {made} made, {made / el:.1f} clips/s", flush=True)
                elif res == "skipped":
                    skipped += 1
                else:
                    failed += 1
                    if failed <= 5:
                        print("  " + res, flush=True)
    el = time.time() - t0
    total = write_manifest(out, jobs)
    print(
        f"made {made} clips in {el:.1f}s ({made / max(el, 1e-9):.1f} clips/s), skipped {skipped} "
        f"existing, {failed} failed; manifest lists {total} of {len(jobs)} clips: "
        f"{out / 'manifest.csv'}",
        flush=True,
    )
    return 0 if failed == 0 or made > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
