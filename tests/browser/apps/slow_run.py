"""A page whose button runs for 4 s: the browser tests' steady-rerun check (test_steady.py).
?steady=1 draws pages._widgets.steady_reruns, as app.py does."""

import sys
import time
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from pages._widgets import steady_reruns  # noqa: E402

if st.query_params.get("steady") == "1":
    steady_reruns()
st.write("drawn above the work")
if st.button("Work"):
    time.sleep(4)
st.write("drawn below the work")
