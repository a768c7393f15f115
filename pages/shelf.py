"""Lab shelf (LAYERLAB_SHELF=1, for a private deployment whose viewers are the lab): every
share in the lab store, newest first; open one; delete one with its delete link."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pandas as pd
import streamlit as st

from core import api, cache
from core.settings import human_bytes

st.header(":material/shelves: Lab shelf")
st.caption(
    "Every view shared on this server, newest first. This page exists because whoever runs "
    "this server set LAYERLAB_SHELF=1: its viewers are the lab."
)


def _age(t: float) -> str:
    s = max(0.0, time.time() - t)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.0f} {unit} ago"
    return "just now"


try:
    store = cache.share_store()
    entries = store.shelf()
except ValueError as e:  # the store down: say why, the rest of the app works
    st.warning(f"The lab store is unavailable: {e}", icon=":material/cloud_off:")
    st.stop()
if not entries:
    st.info("Nothing shared yet: every page's **Share this view** button puts a view here.")
else:
    root = (st.context.url or "").split("?")[0].rsplit("/", 1)[0] + "/"
    st.dataframe(
        pd.DataFrame(
            {
                "title": [e.title or "(untitled)" for e in entries],
                "model": [e.model for e in entries],
                "page": [e.page for e in entries],
                "size": [human_bytes(e.size) for e in entries],
                "shared": [_age(e.created) for e in entries],
                "open": [f"{root}?share={e.id}" for e in entries],
            }
        ),
        column_config={"open": st.column_config.LinkColumn("open", display_text="open")},
        hide_index=True,
        width="stretch",
    )
with st.form("shelf_delete", border=True):
    st.markdown("**Delete a share**: paste the delete link you were given when you shared.")
    text = st.text_input("Delete link", key="shelf_delete_link")
    if st.form_submit_button("Delete", icon=":material/delete:"):
        q = parse_qs(urlparse(text.strip()).query)
        try:
            api.delete_share(q.get("share", [""])[0], q.get("delete", [""])[0], store=store)
        except ValueError as e:
            st.error(f"Not deleted: {e}")
        else:
            st.success("Deleted.")
