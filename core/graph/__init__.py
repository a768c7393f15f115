"""The graph: one walk of a model's layers and everything that follows that walk.

`engine.py` holds `Plan` (the one graph walk: nested models flattened, layer names, shapes, who
reads whom) and `Tracer` (the compiled functions of one model: every layer's output in one pass,
frozen downstream graphs). `interventions.py` is NeuralVis' freezing (zero, mean, scale, keep
channels of a layer). `receptive.py` maps a unit back to the input pixels it sees;
`structure.py` is the layer table and weight summaries of the Structure page.
"""
