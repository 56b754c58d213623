"""Module 02, next-token prediction: the neural character model, its figures and the
temperature explorer.

`model` is the character-level MLP, its training loop and sampling helpers (modules 05,
06 and 07 train it too); `figures` draws bigram tables, training curves, temperature sweeps and fact
checks; `widget` is the explorer of the next-character probabilities under temperature,
top-k and top-p.

A notebook imports the topic (`from genlab import lm`) and finds every public name here.
"""

from . import figures, model, widget
from .figures import *  # noqa: F403
from .model import *  # noqa: F403
from .widget import *  # noqa: F403

# every public name of the topic, as its parts list them
__all__ = [*model.__all__, *figures.__all__, *widget.__all__]
