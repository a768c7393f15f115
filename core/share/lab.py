"""The scripting side of the lab store: api.share, api.open_share, api.delete_share.

Pure Python (no Streamlit). A notebook and the app's Share button go through the same calls,
the same store (core.share.store) and the same checks (core.share.bundle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from core.inputs.prepare import gallery, prepare
from core.inputs.samples import Sample
from core.model.load import LoadedModel, load
from core.safety.sandbox import Sandbox
from core.share import bundle
from core.share.permalink import encode_frozen
from core.share.store import Receipt, Store, open_store


def _store(store: Store | str | None) -> Store:
    return store if isinstance(store, Store) else open_store(store)


def share(
    m: LoadedModel,
    *,
    samples: Sequence[Any] = (),
    selected: str | None = None,
    page: str = "trace",
    settings: Mapping[str, str] | None = None,
    frozen: Mapping[str, list[int]] | None = None,
    kinds: Mapping[str, dict] | None = None,
    model_file: bytes | str | Path | None = None,
    title: str = "",
    note: str = "",
    session: str = "api",
    store: Store | str | None = None,
) -> Receipt:
    """Keep a view in the lab store; returns .id (the link's ?share=<id>) and .delete_token
    (keep it: it alone deletes the share).

    samples: Samples or raws (named "sample 1", ...); model_file: an uploaded model's bytes or
    path (a built-in model travels by name); settings: the view's link settings
    (core.share.permalink keys); frozen/kinds: a freeze configuration as api.trace takes it;
    store: a Store or a database URL (default: LAYERLAB_STORE_URL, else the SQLite file).
    """
    own = [
        s if isinstance(s, Sample) else Sample(f"sample {i + 1}", m.kind, s, source="upload")
        for i, s in enumerate(samples)
    ]
    for s in own:
        prepare(m, s.raw)  # refuse what the model cannot take before anything is stored
    view = dict(settings or {})
    if frozen:
        view["frozen"] = encode_frozen({k: list(v) for k, v in frozen.items()}, dict(kinds or {}))
    data = Path(model_file).read_bytes() if isinstance(model_file, (str, Path)) else model_file
    manifest, files = bundle.pack(
        m,
        model_file=data,
        samples=own,
        selected=selected or (own[0].name if own else None),
        page=page,
        settings=view,
        title=title,
        note=note,
    )
    return _store(store).put(
        manifest, files, session=session, title=title, model=m.card.get("title", m.name), page=page
    )


def open_share(
    share_id: str,
    *,
    store: Store | str | None = None,
    sandbox: Sandbox | None = None,
    builtin: Callable[[str], LoadedModel] = load,
) -> bundle.SharedView:
    """A shared view (.model .samples .selected .raw .page .settings .frozen .kinds .title
    .note), every part checked as an upload would be (an uploaded model: scan, budget and a
    first load in `sandbox`, or a one-off sandbox). builtin: how a built-in model is loaded
    (default api.load; the app passes its cached one)."""
    view = bundle.unpack(_store(store).get(share_id), sandbox=sandbox, builtin=builtin)
    pool = {s.name: s for s in gallery(view.model)}
    view.samples.extend(pool[n] for n in view.gallery if n in pool)
    return view


def delete_share(share_id: str, token: str, *, store: Store | str | None = None) -> None:
    """Delete a share with the delete token its creator was given."""
    _store(store).delete(share_id, token)
