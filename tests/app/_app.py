"""Opening the app in AppTest the way every page test does.

AppTest (Streamlit 1.67) runs app.py only on the first run; later runs execute the current page
alone with the session state the first run left. So state is set before the first run; a model
that did not come through the sidebar (an upload, a converted ONNX file) is put where the
sidebar leaves one after that run, before the page runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_app(
    page: str | None = None,
    *,
    model: Any = None,
    no_errors: bool = False,
    timeout: float = 300,
    **state: Any,
) -> AppTest:
    """app.py run once with `state` in the session, then `page` (e.g. "pages/filters.py") if
    given, with `model` (a LoadedModel) as the current model. Fails on an exception in either
    run, and on an error message too where no_errors."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if model is not None:
        at.session_state["model"] = model
    if page is not None:
        at.switch_page(page)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    if no_errors:
        assert not at.error, [e.value for e in at.error]
    return at
