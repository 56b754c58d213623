"""Module 06, plausible is not true: the risks measured, their figures and the risk dashboard.

`measure` draws samples and measures false facts, copying, skew and detectors;
`figures` draws them; `widget` is the dashboard of all three against temperature.

A notebook imports the topic (`from genlab import risks`) and finds every public name here.
"""

from .figures import (
    RISK_PANELS,
    mark_risks,
    plot_amplification,
    plot_confidence,
    plot_detectors,
    plot_responses,
    plot_risks,
)
from .measure import (
    JOBS,
    Draws,
    RiskSweep,
    bias_prompt,
    detector_accuracy,
    digit_asked,
    draw,
    pronoun_share,
    risk_sweep,
    skewed_corpus,
    whole_lines,
)
from .widget import risk_dashboard, risk_snapshots

__all__ = [
    "Draws",
    "draw",
    "whole_lines",
    "JOBS",
    "skewed_corpus",
    "bias_prompt",
    "pronoun_share",
    "detector_accuracy",
    "digit_asked",
    "RiskSweep",
    "risk_sweep",
    "plot_confidence",
    "plot_amplification",
    "plot_detectors",
    "plot_risks",
    "mark_risks",
    "plot_responses",
    "RISK_PANELS",
    "risk_snapshots",
    "risk_dashboard",
]
