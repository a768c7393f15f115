"""Attribution maps, and the tests that say whether to believe them.

    Explainer(plan, card)                    the compiled score / gradient functions of one model
    attribute(ex, x, method=, target=, **o)  -> (H, W) float32 map over the attribution domain
    faithfulness(ex, x, attribution, kind=, baseline=) -> Curve: deletion or insertion (Petsiuk
                                             et al. 2018), the baseline named
    randomization_check(model, card, x, ...) -> [Similarity(layer, spearman, ssim, hog)]
                                             (Adebayo et al. 2018)

The attribution *domain* is the model input for images and the spectrogram layer's output
(card "spectrogram_layer", (time, frequency, 1)) for audio: the model runs from the raw
waveform, but the spectrogram is what a person reads, and what deletion removes. Every method
differentiates (or perturbs) the same class score (class_score): the target's logit where the
card names a logits layer, else its log-probability.

Modules: `explainer.py` (the Explainer: compiled class score and gradients; what "the class
score" is), `methods.py` (the catalogue METHODS and `attribute`), `faithfulness.py` (deletion
and insertion curves, and the baselines they remove towards), `sanity.py` (the cascading
randomisation check, by Adebayo et al.'s three measures).
"""

from core.analysis.attribution.explainer import Explainer, class_score
from core.analysis.attribution.faithfulness import Curve, faithfulness
from core.analysis.attribution.methods import METHODS, Method, attribute, method_names
from core.analysis.attribution.sanity import Similarity, randomization_check, weighted_layers

__all__ = [
    "METHODS",
    "Curve",
    "Explainer",
    "Method",
    "Similarity",
    "attribute",
    "class_score",
    "faithfulness",
    "method_names",
    "randomization_check",
    "weighted_layers",
]
