"""Torch on one thread, for the course's small networks.

What this module leaves out: any other setting of torch; a notebook that wants more
threads sets them itself.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = ["one_thread"]


@contextmanager
def one_thread():
    """Run torch on one thread, then restore the setting. The course's networks are too small
    to gain from a second thread, and beside other work (a browser, another kernel, a
    noisy neighbour on Binder) threads that spin while they wait for each other made
    training several times slower, and sampling a character at a time twenty times slower,
    in our measurements. Switching costs a fraction of a microsecond."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
