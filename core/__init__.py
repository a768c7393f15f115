"""Layer Lab core: pure Python + Keras/NumPy. Only core/cache.py imports streamlit."""

import os

# OpenBLAS' own thread pool beside TensorFlow's crashes numpy's large products now and then
# (a segfault in `y.T @ x` after a few traces, about one run in two with numpy 2.5's OpenBLAS;
# none in 8 runs with one thread). TensorFlow does the heavy work; numpy gets one BLAS thread.
# Takes effect only if numpy is not loaded yet: app.py and tests/conftest.py set it first.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
