"""Module 07, more ways to create: a variational autoencoder, a normalizing flow, the
rivals trained in modules 03 and 04, the yardsticks that put them side by side, their
figures and the latent explorer.

`model` holds the VAE, the flow, their training loops and the yardsticks; `rivals` the
GAN and the diffusion model shipped as checkpoints; `figures` draws training curves,
the latent map, the flow's stages and every family's digits; `widget` is the latent
explorer.

A notebook imports the topic (`from genlab import families`) and finds every public name here.
"""

from . import figures, model, rivals, widget
from .figures import *  # noqa: F403
from .model import *  # noqa: F403
from .rivals import *  # noqa: F403
from .widget import *  # noqa: F403

# every public name of the topic, as its parts list them
__all__ = [*model.__all__, *rivals.__all__, *figures.__all__, *widget.__all__]
