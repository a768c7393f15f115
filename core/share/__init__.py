"""Sharing: what leaves one browser session for someone else.

`permalink.py` encodes a view's settings into a link and reads it back; `export.py` writes the
ZIP downloads (arrays and labelled figures).
"""
