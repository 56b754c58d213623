"""Module 01, judging vs creating: classifiers measured, their figures and the boundary explorer.

`model` measures the student's classifiers (accuracy, learning curves) and builds the
critic of generated digits that modules 03 and 04 share; `figures` draws the two views
of one data set, learning curves and decision boundaries; `widget` is the explorer of
both models' boundaries against the training-set size.

A notebook imports the topic (`from genlab import classifiers`) and finds every public name here.
"""

from . import figures, model, widget
from .figures import *  # noqa: F403
from .model import *  # noqa: F403
from .widget import *  # noqa: F403

# every public name of the topic, as its parts list them
__all__ = [*model.__all__, *figures.__all__, *widget.__all__]
