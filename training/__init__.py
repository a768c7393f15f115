"""The recipes of the shipped models: how each built-in model in assets/models was trained.

One module per concern, shared by the three recipes: `data` reads the training data once for all
of them (the offline copies in ``../shared/data``, or ``keras.datasets`` where the internet is
reachable), `kfold` scores a held-out set (speaker folds, Wilson intervals, confusion),
`runtime` sets up TensorFlow and says which machine trained, and `logits` trains an image
network through its logits. `lenet` (LeNet-5 on MNIST) and `vgg` (the VGG-style CIFAR-10
network) are one module each; `audio` holds the spoken-digit recipe, a
base model trained from scratch and then fine-tuned with real voices, with k-fold by speaker. Each
writes its model and its card (the JSON the app reads); the thin command lines are in scripts/.
Experiments that did not ship are recorded in EXPERIMENTS.md beside this file, their code in git
history only.
"""

import os

# Unasked, TensorFlow 2.21 left its oneDNN kernels off on a 2-core AMD EPYC box, where a
# spoken-digit training step then took 12.8 ms per clip against 5.3 ms with them on. Set here,
# before any recipe module imports TensorFlow.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
