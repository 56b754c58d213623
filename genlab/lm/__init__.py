"""Module 02, next-token prediction: the neural character model, its figures and the
temperature explorer.

`model` is the character-level MLP, its training loop and sampling helpers (modules 05
and 06 train it too); `figures` draws bigram tables, training curves, temperature sweeps and fact
checks; `widget` is the explorer of the next-character probabilities under temperature,
top-k and top-p.

A notebook imports the topic (`from genlab import lm`) and finds every public name here.
"""

from .figures import draw_next_tokens, plot_bigram, plot_fact_check, plot_sweep, plot_training
from .model import CharMLP, NeuralLM, Sampler, complete, entropy_bits, fit, train_lm, windows
from .widget import NextTokenView, next_token_view, temperature_explorer, temperature_snapshots

__all__ = [
    "CharMLP",
    "NeuralLM",
    "Sampler",
    "train_lm",
    "windows",
    "complete",
    "entropy_bits",
    "fit",
    "draw_next_tokens",
    "plot_bigram",
    "plot_training",
    "plot_sweep",
    "plot_fact_check",
    "NextTokenView",
    "next_token_view",
    "temperature_snapshots",
    "temperature_explorer",
]
