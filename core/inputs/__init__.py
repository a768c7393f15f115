"""Inputs: what a user has in hand (an image, a clip) and how it becomes model input.

`image.py` and `audio.py` validate and convert raw inputs as the model card says; `edits.py`
is d-DeVIS' audio editing; `samples.py` the built-in samples and the sample record pages share;
`probe.py` the held-out probe sets shipped with each model.
"""
