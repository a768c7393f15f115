"""The model: loading a file through the upload door, its card, and what its output means.

`load.py` turns a built-in name, a path or uploaded bytes into a `LoadedModel` (the Keras model,
its card and its compiled functions); `card.py` reads and checks model cards (what the input is,
how raw input becomes model input); `outputs.py` says whether the model ends in probabilities,
logits or sigmoids and gives class scores for gradients.
"""
