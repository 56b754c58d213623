"""Module 01, judging vs creating: classifiers measured, their figures and the boundary explorer.

`model` measures the student's classifiers (accuracy, learning curves) and builds the
critic of generated digits that modules 03 and 04 share; `figures` draws the two views
of one data set, learning curves and decision boundaries; `widget` is the explorer of
both models' boundaries against the training-set size.

A notebook imports the topic (`from genlab import classifiers`) and finds every public name here.
"""

from .figures import plot_boundaries, plot_learning_curves, two_views_figure
from .model import LearningCurves, accuracy, digit_critic, learning_curves
from .widget import BoundaryPanels, boundary_explorer, boundary_panels, boundary_snapshots

__all__ = [
    "LearningCurves",
    "accuracy",
    "learning_curves",
    "digit_critic",
    "two_views_figure",
    "plot_learning_curves",
    "plot_boundaries",
    "BoundaryPanels",
    "boundary_panels",
    "boundary_snapshots",
    "boundary_explorer",
]
