"""The spoken-digit recipe: raw 8 kHz waveform in, digit out, log-mel spectrogram in the graph.

`recipe` holds the settings of the two stages that made the shipped model (``base`` from scratch
on FSDD and espeak-ng voices, ``finetune`` from it with the real recordings and k-fold by
speaker) and the commands that rebuild it; `augment` what each clip goes through in training;
`model` the network and its training graph; `train` a stage run end to end; `card` the card.
"""
