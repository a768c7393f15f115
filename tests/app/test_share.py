"""AppTest: the Share button writes to the store that Streamlit's secrets name
([connections.layerlab] url), and a limit is said on the page, not raised."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from core.share.store import Store
from tests.app._app import APP

pytestmark = pytest.mark.slow


def _share(at: AppTest, title: str) -> None:
    at.text_input(key="share_title").input(title)
    next(b for b in at.button if b.label == "Share").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_share_uses_the_secrets_store_and_says_when_a_limit_refuses(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'from-secrets.sqlite3'}"
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path / "not-this-one"))
    monkeypatch.setenv("LAYERLAB_SHARES_PER_MINUTE", "1")
    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets["connections"] = {"layerlab": {"url": url}}
    at.session_state["share_popover"] = True  # opened: its contents run only while open
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    _share(at, "from secrets")
    link = next(c.value for c in at.code if "?share=" in c.value and "delete=" not in c.value)
    sid = re.search(r"share=([0-9a-f]{32})", link).group(1)
    got = Store(url).get(sid)
    assert got.title == "from secrets" and got.manifest["model"] == {"builtin": "lenet_mnist"}
    assert not (tmp_path / "not-this-one").exists()
    _share(at, "again")  # a second share within the minute: refused with its numbers
    assert any("at most 1 per minute" in e.value for e in at.error), [e.value for e in at.error]
    assert Store(url).stats()["shares"] == 1
