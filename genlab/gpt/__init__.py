"""Module 06, a tiny GPT: the transformer built, trained and measured against the designs it
replaced, its figures and the attention explorer.

`model` holds the transformer, the recurrent and window networks it is compared with, their
training loop and the measurements; `figures` draws them; `widget` is the attention explorer.

A notebook imports the topic (`from genlab import gpt`) and finds every public name here.
"""

from . import model
from .model import *  # noqa: F403

# every public name of the topic, as its parts list them
__all__ = [*model.__all__]
