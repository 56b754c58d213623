"""Module 05, what changed: the three ingredients (data, compute, attention) measured, their
figures and the attention explorer.

`scaling` measures loss against data and the speed of a matrix product three ways;
`recall` trains a window model and one attention head on a recall task; `figures` draws
the data curve, the rates and attention strips; `widget` shows where each position looks.

A notebook imports the topic (`from genlab import ingredients`) and finds every public name here.
"""

from . import figures, recall, scaling, widget
from .figures import *  # noqa: F403
from .recall import *  # noqa: F403
from .scaling import *  # noqa: F403
from .widget import *  # noqa: F403

# every public name of the topic, as its parts list them
__all__ = [*scaling.__all__, *recall.__all__, *figures.__all__, *widget.__all__]
