"""The Audio page's inputs: record a word, upload a clip, or pick a built-in or held-out one."""

from __future__ import annotations

import hashlib

import streamlit as st

from core import cache
from core.errors import InputError
from core.inputs.audio import ACCEPTED, decode_audio, place_word, to_mono
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from core.settings import MAX_CLIP_SECONDS
from pages._controls import lazy_tabs
from pages._state import AUDIO_INPUT_TABS, add_sample, keep, kept, samples


def _rate(lm: LoadedModel) -> int:
    return int(lm.card["input"]["sample_rate"])


def _window(lm: LoadedModel) -> float:
    return lm.card["input"]["shape"][0] / _rate(lm)


def _decode_clip(
    data: bytes, filename: str, name: str, source: str, *, sr: int, seconds: float
) -> Sample | str:
    """An upload or recording as a sample at the model's rate, or what was wrong with it."""
    try:
        y, file_sr, notes = decode_audio(data, filename=filename)
        y, more = to_mono(y, file_sr, target_sr=sr)
        # Silent, or too short for a word: say so now; two words: say which one is used.
        placed = place_word(y, sr, seconds=seconds)[1]
    except InputError as e:
        return f"{filename}: {e}"
    several = [n for n in placed if n.startswith("the take holds")]
    return Sample(name, "audio", (y, sr), source=source, note="; ".join(several + notes + more))


def _take(
    lm: LoadedModel, state_key: str, ident: str, data: bytes, filename: str, name: str, source: str
) -> None:
    """Add a new upload/recording once (widgets return it on every rerun); show its error."""
    error = kept(state_key, ident)  # "" once taken, or why it could not be
    if error is None:
        got = _decode_clip(data, filename, name, source, sr=_rate(lm), seconds=_window(lm))
        # Kept before add_sample, which reruns the page.
        error = keep(state_key, ident, got if isinstance(got, str) else "")
        if not isinstance(got, str):
            add_sample(got)
    if error:
        st.error(error)


def audio_inputs(lm: LoadedModel) -> None:
    """Four lazy tabs; a new recording or upload, or a clicked clip, is added to the samples."""
    # Lazy: the clip buttons cost a rerun while their tab is closed otherwise.
    rec_tab, up_tab, gal_tab, real_tab = lazy_tabs(
        AUDIO_INPUT_TABS, key="audio_input_tab", label="Input"
    )
    with rec_tab:
        if rec_tab.open:
            # Streamlit's own recorder: while it records it shows the live waveform (a level meter:
            # a flat line means the microphone hears nothing) and the elapsed time.
            rec = st.audio_input(
                "Record one digit",
                key="recorder",
                sample_rate=16000,
                help="Click the microphone, say one digit, click stop. The live "
                "waveform shows your level; the clock, how long you recorded.",
            )
            st.markdown(
                f"Say **one digit** (zero to nine) and stop the recording; watch the waveform "
                f"move as you speak (if it stays flat, the microphone is muted or too far). "
                f"The word is found in the take and centred in the model's {_window(lm):g} s "
                "window; if the take holds two words, the louder one is used and the notes say so."
            )
            if rec is not None:
                wav = rec.getvalue()
                n = 1 + sum(s.source == "recorded" for s in samples().values())
                _take(
                    lm,
                    "last_recording",
                    hashlib.sha256(wav).hexdigest(),
                    wav,
                    "recording.wav",
                    f"Recording {n}",
                    "recorded",
                )

    with up_tab:
        if up_tab.open:
            file = st.file_uploader(
                f"Audio file ({ACCEPTED}), at most {MAX_CLIP_SECONDS:g} s",
                type=["wav", "flac", "ogg", "oga", "opus", "mp3"],
                key="audio_file",
            )
            if file is not None:
                _take(
                    lm,
                    "last_audio_upload",
                    file.file_id,
                    file.getvalue(),
                    file.name,
                    file.name,
                    "upload",
                )
            st.caption(
                "Any sample rate, bit depth and number of channels: channels are averaged and "
                f"the clip is resampled to {_rate(lm)} Hz."
            )

    with gal_tab:
        if gal_tab.open:
            st.caption(
                "Digits spoken by espeak-ng voices (scripts/make_speech_samples.py): made by this "
                "project, in no training set. Click one to add it to the samples."
            )
            clips = cache.speech_clips()
            for voice in dict.fromkeys(s.name.split("(")[-1].rstrip(")") for s in clips):
                row = [s for s in clips if s.name.endswith(f"({voice})")]
                cols = st.columns(len(row) + 1)
                cols[0].markdown(f"`{voice}`")
                for col, s in zip(cols[1:], row):
                    if col.button(s.name.split('"')[1], key=f"clip_{s.name}", width="stretch"):
                        add_sample(s)

    with real_tab:
        if real_tab.open:
            real = cache.probe_samples(lm, 20)
            st.caption(
                f"Clips the model never trained on (its probe set: {cache.probe(lm).about}). "
                "Click one to add it to the samples."
            )
            for r in range(0, len(real), 10):
                for col, s in zip(st.columns(10), real[r : r + 10]):
                    if col.button(
                        f"{s.label}", key=f"real_clip_{s.name}", help=s.note, width="stretch"
                    ):
                        add_sample(s)
