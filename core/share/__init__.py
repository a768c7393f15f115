"""Sharing: what leaves one browser session for someone else.

`permalink.py` encodes a view's settings into a link and reads it back; `export.py` writes the
ZIP downloads (arrays and labelled figures); `store.py` (tables in `schema.py`) is the lab
store, a SQL database of shares; `bundle.py` turns a view into a share and back through the
upload door; `lab.py` is api.share / api.open_share; `offline.py` writes a view as one HTML
file and as a notebook.
"""
