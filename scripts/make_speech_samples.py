#!/usr/bin/env python
"""Make the built-in spoken-digit sample clips (assets/samples/speech/) with espeak-ng.

Run from the repository root:

    python scripts/make_speech_samples.py

Writes ``{digit}_{voice}.wav`` for the digits 0-9 in two voices (a female and a male espeak-ng
variant), 8 kHz mono 16-bit PCM, each the word with 0.1 s of silence on either side (< 1.2 s),
peak-normalised to 0.7. The clips are synthesized by the project itself (no recordings from
anyone), so they may be shipped. Deterministic: the same espeak-ng version gives the same files.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SR = 8000
# name -> espeak-ng arguments
VOICES = {
    "en-us-f3": ["-v", "en-us+f3", "-p", "55", "-s", "140"],
    "en-gb-m1": ["-v", "en-gb+m1", "-p", "45", "-s", "140"],
}
PAD_S = 0.1
PEAK = 0.7
MAX_S = 1.2


def synth(word: str, args: list[str]) -> np.ndarray:
    import librosa
    import soundfile as sf
    import soxr

    wav = subprocess.run(
        ["espeak-ng", *args, "--stdout", word], capture_output=True, check=True
    ).stdout
    y, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=False)
    y = soxr.resample(y, sr, SR, quality="HQ").astype(np.float32)
    y, _ = librosa.effects.trim(y, top_db=40, frame_length=256, hop_length=64)
    pad = np.zeros(int(PAD_S * SR), dtype=np.float32)
    y = np.concatenate([pad, y, pad])
    y *= PEAK / max(float(np.max(np.abs(y))), 1e-9)
    if y.size > MAX_S * SR:
        raise SystemExit(f"error: {word!r} {args} is {y.size / SR:.2f} s, over {MAX_S} s")
    return y


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="assets/samples/speech")
    args = ap.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        sys.exit("error: espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    import soundfile as sf

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for digit, word in enumerate(WORDS):
        for name, vargs in VOICES.items():
            y = synth(word, vargs)
            path = out / f"{digit}_{name}.wav"
            sf.write(path, y, SR, subtype="PCM_16", format="WAV")
            print(f"{path}  {y.size / SR:.2f} s  ({word}, espeak-ng {' '.join(vargs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
