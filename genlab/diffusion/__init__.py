"""Module 04, sculpting from static: the denoiser, its figures, and the stepper, noising and
guidance widgets.

`model` is the class-conditional denoiser, its training loop and the sampler that runs
the student's reverse step; `figures` draws the schedule, training, guidance and speed;
`widget` steps from static to digits, noises one digit, and sweeps the guidance scale.

A notebook imports the topic (`from genlab import diffusion`) and finds every public name here.
"""

from .figures import plot_denoiser_training, plot_guidance, plot_schedule, plot_speed
from .model import NO_LABEL, Denoiser, Samples, T, Training, digits_denoiser, sample, train_denoiser
from .widget import (
    denoising_snapshots,
    diffusion_stepper,
    guidance_slider,
    guidance_snapshots,
    noising_slider,
    noising_snapshots,
)

__all__ = [
    "T",
    "NO_LABEL",
    "Denoiser",
    "digits_denoiser",
    "Training",
    "train_denoiser",
    "Samples",
    "sample",
    "plot_schedule",
    "plot_denoiser_training",
    "plot_guidance",
    "plot_speed",
    "denoising_snapshots",
    "diffusion_stepper",
    "noising_snapshots",
    "noising_slider",
    "guidance_snapshots",
    "guidance_slider",
]
