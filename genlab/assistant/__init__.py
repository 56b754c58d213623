"""Module 09, from predictor to assistant: a creator that reads what a retriever gives it, a
reward model, best-of-n, preference tuning (DPO) and what each costs, with their figures
and the assistant explorer.

`model` holds the creator, the retriever, the reward model, best-of-n, DPO and the
measurements; `figures` draws them; `widget` is the explorer of n and beta.

A notebook imports the topic (`from genlab import assistant`) and finds every public name here.
"""

from . import figures, model, widget
from .figures import *  # noqa: F403
from .model import *  # noqa: F403
from .widget import *  # noqa: F403

# every public name of the topic, as its parts list them
__all__ = [*model.__all__, *figures.__all__, *widget.__all__]
