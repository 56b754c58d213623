"""Module 08, plausible is not true: the risks measured, their figures and the risk dashboard.

`measure` draws samples and measures false facts, copying, skew and detectors;
`figures` draws them; `widget` is the dashboard of all three against temperature.

A notebook imports the topic (`from genlab import risks`) and finds every public name here.
"""

from . import figures, measure, widget
from .figures import *  # noqa: F403
from .measure import *  # noqa: F403
from .widget import *  # noqa: F403

# every public name of the topic, as its parts list them
__all__ = [*measure.__all__, *figures.__all__, *widget.__all__]
