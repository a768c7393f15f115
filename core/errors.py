"""One error type per kind of mistake. All are ValueError subclasses (DESIGN.md contract)."""


class LayerLabError(ValueError):
    """Base class: a message that says what was received, what was expected, how to fix it."""


class ModelRefusedError(LayerLabError):
    """A model file was refused before loading (size, unsafe layers, unreadable file)."""


class UnsupportedModelError(LayerLabError):
    """A model loaded, but its inputs/outputs are not something Layer Lab can visualise."""


class InputError(LayerLabError):
    """A raw input (image, audio) cannot be converted to what the model expects."""


class LayerNameError(LayerLabError, KeyError):
    """A layer name that the model does not have."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ModelUnreadableError(ModelRefusedError):
    """Keras itself could not read a model file (not a safety refusal): say Keras' reason."""


class BudgetError(ModelRefusedError):
    """A model that would need more memory, disk or time than this server allows."""


class CardError(LayerLabError):
    """A model card (or a correction to one) that does not fit the model."""
