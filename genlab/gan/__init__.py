"""Module 03, the forger and the detective: GANs on a ring and on digits, their figures and
the training scrubber.

`model` builds the players and the loop that plays the student's moves, keeping
snapshots; `figures` draws the ring, the losses and the digits over training; `widget`
replays the saved snapshots with a slider.

A notebook imports the topic (`from genlab import gan`) and finds every public name here.
"""

from .figures import (
    DETECTIVE_CMAP,
    digits_over_training,
    draw_gan_field,
    plot_critic_labels,
    plot_gan_losses,
    plot_generator_losses,
    plot_ring,
)
from .model import (
    GAN,
    RING_MODES,
    RING_RADIUS,
    RING_STD,
    Run,
    Snapshot,
    digits_for_gan,
    digits_gan,
    generation_seconds,
    ring_centers,
    ring_gan,
    sample_ring,
    train_gan,
)
from .widget import gan_scrubber, gan_snapshots

__all__ = [
    "RING_MODES",
    "RING_RADIUS",
    "RING_STD",
    "ring_centers",
    "sample_ring",
    "digits_for_gan",
    "GAN",
    "ring_gan",
    "digits_gan",
    "Snapshot",
    "Run",
    "train_gan",
    "generation_seconds",
    "plot_ring",
    "plot_generator_losses",
    "draw_gan_field",
    "plot_gan_losses",
    "digits_over_training",
    "plot_critic_labels",
    "DETECTIVE_CMAP",
    "gan_snapshots",
    "gan_scrubber",
]
