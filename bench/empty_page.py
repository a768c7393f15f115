"""The baseline of bench.pages: an empty Streamlit page with the same timing hook as app.py."""

import json
import os
import time

_STARTED = time.perf_counter()
import streamlit as st  # noqa: E402

st.write("An empty page.")
if os.environ.get("LAYERLAB_TIMING"):
    with open(os.environ["LAYERLAB_TIMING"], "a") as f:
        f.write(json.dumps({"page": "empty", "ms": (time.perf_counter() - _STARTED) * 1e3}) + "\n")
