"""Module 04, sculpting from static: the denoiser, its figures, and the stepper, noising and
guidance widgets.

`model` is the class-conditional denoiser, its training loop and the sampler that runs
the student's reverse step; `figures` draws the schedule, training, guidance and speed;
`widget` steps from static to digits, noises one digit, and sweeps the guidance scale.

A notebook imports the topic (`from genlab import diffusion`) and finds every public name here.
"""

from . import figures, model, widget
from .figures import *  # noqa: F403
from .model import *  # noqa: F403
from .widget import *  # noqa: F403

# every public name of the topic, as its parts list them
__all__ = [*model.__all__, *figures.__all__, *widget.__all__]
