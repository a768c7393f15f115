"""The Audio lab's costs: one full trace of a clip, one filter's audio (ISTFT, Griffin-Lim).

    python -m bench.audio [--repeats 20]

On the built-in spoken-digit model and one built-in 1 s clip, batch 1:
  forward   model(x, training=False): the plain forward pass (the baseline)
  prepare   a raw clip (44.1 kHz stereo, 1.5 s) to the model's input: mix, resample, place
  trace     api.trace's work: the Tracer, every layer's output (one compiled multi-output model)
  istft     one filter's audio with the input's phase (hear_filter, method="phase")
  gl32      one filter's audio by Griffin-Lim, 32 iterations (method="griffinlim")
  stft      a bare librosa STFT + ISTFT round trip of the clip (the inversion's floor)
Filters are taken from block1_relu (full resolution) and block3_relu (pooled 4x).
Ratios are against `forward` (trace) and `trace` (filter audio), measured in the same run.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from bench.common import Row, Table, parser  # noqa: E402
from bench.trace import median_ms  # noqa: E402
from core import api  # noqa: E402
from core.inputs.samples import speech_clips  # noqa: E402
from core.show.audio_view import hear_filter  # noqa: E402


def main(argv: list[str] | None = None) -> list[Row]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    import librosa
    import soxr

    args = parser(__doc__, repeats=20).parse_args(argv)
    m = api.load("spoken_digits")
    y, sr = next(c.raw for c in speech_clips() if c.label == "7")
    x, _ = api.prepare(m, (y, sr))
    tr = api.trace(m, (y, sr))
    # A clip as a browser would record it: 44.1 kHz, stereo, with silence around the word.
    pad = np.zeros(int(0.3 * 44100), np.float32)
    rec = np.concatenate([pad, soxr.resample(y, sr, 44100).astype(np.float32), pad])
    rec = np.stack([rec, rec], axis=1)
    stft = m.card["stft"]
    kw = dict(
        n_fft=stft["fft_length"],
        hop_length=stft["frame_step"],
        win_length=stft["frame_length"],
        window="hann",
        center=True,
    )
    r = args.repeats

    t_forward = median_ms(lambda: m.model(x[None], training=False), r)
    t_prepare = median_ms(lambda: api.prepare(m, (rec, 44100)), r)
    t_trace = median_ms(lambda: m.tracer(x[None]), r)
    t_stft = median_ms(lambda: librosa.istft(librosa.stft(x, **kw), length=x.size, **kw), r)
    print(
        f"spoken_digits, {len(tr) - 1} layers, input {x.shape[0]} samples at "
        f"{m.card['input']['sample_rate']} Hz; median of {r} runs"
    )
    print(
        f"  forward {t_forward:8.2f} ms   prepare {t_prepare:8.2f} ms   trace {t_trace:8.2f} ms"
        f"   trace/forward {t_trace / t_forward:5.2f}   stft+istft {t_stft:6.2f} ms"
    )
    summary: list[Row] = [("audio", "spoken_digits", "trace / eager forward", t_trace / t_forward)]
    table = Table(
        "layer 14 | istft ms 9.2f | gl32 ms 9.2f | istft/trace 12.2f | gl32/trace 11.2f"
        " | gl32/istft 11.1f",
        indent="  ",
    )
    table.header()
    for layer in ("block1_relu", "block3_relu"):
        t_i = median_ms(lambda: hear_filter(m, tr, layer, 3, method="phase"), r)
        t_g = median_ms(lambda: hear_filter(m, tr, layer, 3, method="griffinlim"), max(3, r // 4))
        table.row(layer, t_i, t_g, t_i / t_trace, t_g / t_trace, t_g / t_i)
        summary += [
            ("audio", layer, "filter audio, ISTFT / trace", t_i / t_trace),
            ("audio", layer, "filter audio, Griffin-Lim / trace", t_g / t_trace),
        ]
    return summary


if __name__ == "__main__":
    main()
