"""Sharing through the lab store (issue 36): the Share box every page shows inside its "Share
this view" popover, and the app's side of a `?share=<id>` link (open it, delete it).

What a URL cannot carry (an uploaded model and its card, the session's own samples) goes to
the store (core.share.store, through api.share); the view's link settings go with it. Opening
a share puts its model, samples, settings and page into a new session, through the same doors
as uploads (api.open_share). A store that is down or read-only is said once, when Share is
clicked; the rest of the app never touches the store.

Session keys: "share_session" (a random id: the per-minute limit counts by it), "last_share"
(id, link) of this session's last share, "shared_model" (LoadedModel, file bytes) of an opened
share, "opened_share" (id, title, note), "pending_delete" (id, token) from a delete link,
"link_page" (the page an opened share showed; app.py switches to it once).
"""

from __future__ import annotations

import secrets
from typing import Any, TypedDict

import streamlit as st

from core import api, cache
from core.errors import StoreUnavailableError
from core.model.load import LoadedModel, sha256_bytes
from pages._state import add_sample, freeze_kinds, samples

SHARED = "Model from a shared link"


def _uploader_file() -> Any:
    """app.py's model uploader's file (its key carries a version: a refused file leaves it)."""
    return st.session_state.get(f"model_file_{st.session_state.get('model_file_version', 0)}")


def model_file(lm: LoadedModel, shared: Any = None, uploaded: Any = None) -> bytes | None:
    """The uploaded model's own bytes (an opened share's, or the uploader's file), else None.
    shared, uploaded: st.session_state's "shared_model" and the uploader's file (read now if
    None)."""
    if lm.source == "builtin":
        return None
    shared = shared or st.session_state.get("shared_model")
    if shared is not None and shared[0].sha256 == lm.sha256:
        return shared[1]
    f = uploaded or _uploader_file()
    data = f.getvalue() if f is not None else None
    return data if data is not None and sha256_bytes(data) == lm.sha256 else None


def app_root(url: str, page: str) -> str:
    """The app's own address from this page's (…/freeze -> …/)."""
    base = url.split("?")[0].rstrip("/")
    if page and base.endswith("/" + page):
        base = base[: -len(page) - 1]
    return base + "/"


def share_box(lm: LoadedModel, *, params: dict[str, str], url: str, view: dict[str, Any]) -> None:
    """Inside the Share popover: keep this view (model, samples, settings, page) in the store.

    params: the view's link settings; view: the selected sample's and second sample's names
    ("selected", "b"), for the offline downloads too."""
    page = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1] if "/" in url else ""
    page = "" if ":" in page or "." in page else page  # the app's root: the default page
    st.markdown(
        "**Share with the lab**: the model, your samples and this view, kept on this "
        "server under a link (an uploaded model goes too)."
    )
    with st.form("share_form", border=False):
        title = st.text_input("Title (optional)", max_chars=200, key="share_title")
        note = st.text_area("Note (optional)", max_chars=2000, key="share_note", height=68)
        go = st.form_submit_button("Share", icon=":material/cloud_upload:")
    if go:
        _share(lm, params=params, page=page, url=url, title=title, note=note, view=view)
    last = st.session_state.get("last_share")
    if last is not None and not go:
        st.caption("Your last share's link:")
        st.code(last[1], language=None, wrap_lines=True)
    _downloads(lm, params=params, page=page or "trace", url=url, view=view)


class _Shown(TypedDict):
    """What both offline downloads say about the view, so the HTML and the notebook agree:
    its freeze (the frozen filters and their kinds), page, title and link."""

    frozen: dict[str, list[int]]
    kinds: dict[str, dict[str, Any]]
    page: str
    title: str
    link: str


def _downloads(lm: LoadedModel, *, params, page, url, view) -> None:
    """Download as HTML / as notebook: built only when clicked, from what is captured now
    (references, no copies: a rerun that does not click pays nothing)."""
    from core.graph.interventions import Freeze
    from core.share.offline import notebook_zip, view_html

    pool = samples()
    sample = view.get("sample") or pool.get(st.session_state.get("selected", ""))
    if sample is None or sample.kind != lm.kind:
        return
    own = [s for s in pool.values() if s.kind == lm.kind]
    config = dict(st.session_state.get("frozen", {}).get(lm.sha256, {}))
    kinds = dict(freeze_kinds(lm))
    title = st.session_state.get("share_title", "")
    last = st.session_state.get("last_share")
    link = last[1] if last is not None else url
    shared = st.session_state.get("shared_model")
    uploaded = _uploader_file()
    ivs = Freeze(config, kinds)
    shown = _Shown(frozen=config, kinds=kinds, page=page, title=title, link=link)

    def html() -> str:
        plain = api.run(lm, sample.raw)
        frozen = api.run(lm, sample.raw, frozen=ivs) if ivs else None
        return view_html(
            lm,
            name=sample.name,
            raw=sample.raw,
            probabilities=plain.probabilities,
            frozen_probabilities=frozen.probabilities if frozen else None,
            trace=(frozen or plain).trace,
            layer=params.get("layer"),
            **shown,
        )

    def notebook() -> bytes:
        return notebook_zip(
            lm,
            model_file=model_file(lm, shared, uploaded),
            samples=own,
            selected=sample.name,
            settings=params,
            **shown,
        )

    stem = f"layerlab_{page}_{lm.name}".replace(" ", "_").rsplit(".", 1)[0]
    downloads = [  # (label, key, its bytes, file ending, MIME type, icon, help)
        (
            "HTML",
            "html",
            html,
            ".html",
            "text/html",
            ":material/html:",
            "One file that opens offline in any browser: the input, the prediction, the "
            "page's layer, the freeze, the model card and the link.",
        ),
        (
            "notebook",
            "notebook",
            notebook,
            "_notebook.zip",
            "application/zip",
            ":material/description:",
            "A Jupyter notebook that reproduces this view through core.api, with the model "
            "(an upload) and the samples beside it.",
        ),
    ]
    for col, (label, what, data, ending, mime, icon, tip) in zip(st.columns(2), downloads):
        col.download_button(
            f"Download as {label}",
            data=data,
            file_name=f"{stem}{ending}",
            mime=mime,
            key=f"share_{what}",
            on_click="ignore",
            icon=icon,
            help=tip,
        )


def _share(lm: LoadedModel, *, params, page, url, title, note, view) -> None:
    own = [s for s in samples().values() if s.kind == lm.kind]
    data = model_file(lm)
    if lm.source != "builtin" and data is None:
        st.error(
            f"The file of {lm.name!r} is no longer in this session (the uploader was "
            "cleared); upload it again to share it."
        )
        return
    who = st.session_state.setdefault("share_session", secrets.token_hex(16))
    try:
        with st.spinner("Sharing…", show_time=True):
            r = api.share(
                lm,
                samples=own,
                selected=view.get("selected"),
                page=page or "trace",
                settings=params,
                model_file=data,
                title=title.strip(),
                note=note.strip(),
                session=who,
                store=cache.share_store(),
            )
    except StoreUnavailableError as e:
        st.warning(
            f"The lab store is unavailable, so nothing was shared: {e}",
            icon=":material/cloud_off:",
        )
        return
    except ValueError as e:  # a limit, or a sample the model cannot take: say which
        st.error(f"Not shared: {e}", icon=":material/block:")
        return
    root = app_root(url, page)
    link = f"{root}?share={r.id}"
    st.session_state["last_share"] = (r.id, link)
    st.success("Shared. Anyone who can open this app can open the link:", icon=":material/link:")
    st.code(link, language=None, wrap_lines=True)
    st.caption(
        ":material/delete: Your delete link, shown only now (the server keeps only its hash); "
        "keep it to remove the share:"
    )
    st.code(f"{root}?share={r.id}&delete={r.delete_token}", language=None, wrap_lines=True)


def open_link(link: dict[str, str]) -> dict[str, str]:
    """A `?share=<id>` link (once per session, before the sidebar): the share's model becomes
    the picker's choice, its samples join the list; returns the link settings app.py applies
    (apply_link), with "select" (the sample the view showed). A share that cannot be opened
    is said in the sidebar and the plain view opens."""
    notes = st.session_state.setdefault("link_notes", [])
    if "delete" in link:
        st.session_state["pending_delete"] = (link["share"], link["delete"])
    try:
        with st.spinner("Opening the shared view…", show_time=True):
            view = api.open_share(
                link["share"],
                store=cache.share_store(),
                sandbox=cache.sandbox(),
                builtin=cache.builtin_model,
            )
    except ValueError as e:  # a malformed, unknown, expired or damaged share; the store down
        notes.append(f"The shared link could not be opened: {e}")
        return {}
    if view.model.source == "builtin":
        st.session_state["model_choice"] = view.model.name
    else:
        st.session_state["shared_model"] = (view.model, view.model_file)
        st.session_state["model_choice"] = SHARED
    for s in view.samples:
        add_sample(s, select=False, replace=True)
    st.session_state["link_page"] = view.page
    st.session_state["opened_share"] = (view.id, view.title, view.note)
    settings = dict(view.settings)
    if view.selected:
        settings["select"] = view.selected
    if settings.get("b") in {s.name for s in view.samples}:
        st.session_state["link_b"] = settings["b"]
    return settings


def sidebar_notes() -> None:
    """The opened share's title and note, and a delete link's confirmation, in the sidebar."""
    opened = st.session_state.get("opened_share")
    if opened is not None and (opened[1] or opened[2]):
        st.sidebar.info(
            f"**{opened[1] or 'Shared view'}**" + (f"\n\n{opened[2]}" if opened[2] else ""),
            icon=":material/share:",
        )
    pending = st.session_state.get("pending_delete")
    if pending is None:
        return
    box = st.sidebar.container(border=True)
    box.markdown(f"Delete share `{str(pending[0])[:32]}`? Its link stops working for everyone.")
    yes, no = box.columns(2)
    if yes.button("Delete", key="share_delete", icon=":material/delete:"):
        st.session_state.pop("pending_delete")
        try:
            api.delete_share(pending[0], pending[1], store=cache.share_store())
        except ValueError as e:
            st.sidebar.error(f"Not deleted: {e}")
        else:
            st.sidebar.success("Deleted.", icon=":material/delete:")
    if no.button("Keep", key="share_keep"):
        st.session_state.pop("pending_delete")
        st.rerun()
