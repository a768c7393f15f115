"""Analysis: questions asked of a model about an input or a set of inputs.

Attribution (methods, Grad-CAM, faithfulness, the randomisation check), attacks (foolbox),
filter importance, comparing two traces, CKA between models, exemplars (the inputs that most
excite a channel), feature visualisation, hearing a filter, concepts (TCAV: does a class use a
concept?) and the arithmetic of one unit (how a traced value came about). Analysis uses graph, inputs and
model; it never imports show (pictures are drawn by the callers).
"""
