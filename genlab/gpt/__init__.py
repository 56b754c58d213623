"""Module 06, a tiny GPT: the transformer built, trained and raced against the designs it
replaced, its figures and the attention explorer.

`model` holds the transformer, the recurrent and window networks it is raced against, their
training loop, the measurements and the shipped checkpoints; `figures` draws training curves,
loss by position, step times and every head's attention; `widget` is the attention explorer.

A notebook imports the topic (`from genlab import gpt`) and finds every public name here.
"""

from . import figures, model, widget
from .figures import *  # noqa: F403
from .model import *  # noqa: F403
from .widget import *  # noqa: F403

# every public name of the topic, as its parts list them
__all__ = [*model.__all__, *figures.__all__, *widget.__all__]
