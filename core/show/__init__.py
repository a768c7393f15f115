"""Show: arrays made into what people look at and listen to.

Colour maps and tiles (`render.py`), spectrogram axes and audio display data (`audio_view.py`),
model card text (`card_view.py`), exemplar patches (`exemplar_view.py`) and the Structure page's
graph layout (`graph_layout.py`). Used by pages and exports, never by analysis.
"""
