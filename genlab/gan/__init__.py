"""Module 03, the forger and the detective: GANs on a ring and on digits, their figures and
the training scrubber.

`model` builds the players and the loop that plays the student's moves, keeping
snapshots; `figures` draws the ring, the losses and the digits over training; `widget`
replays the saved snapshots with a slider.

A notebook imports the topic (`from genlab import gan`) and finds every public name here.
"""

from . import figures, model, widget
from .figures import *  # noqa: F403
from .model import *  # noqa: F403
from .widget import *  # noqa: F403

# every public name of the topic, as its parts list them
__all__ = [*model.__all__, *figures.__all__, *widget.__all__]
