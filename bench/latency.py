"""Redraw latency of the live widgets, measured in the kernel that drew them.

Every widget of the course registers itself when it is drawn (`genlab.live.make_live`),
with the changes that exercise it. `latency_report` moves each live one through those
changes, the way a student's drag does (observers run synchronously), and reports how
long each redraw took. bench/run.py runs it in a module's kernel after the module ran:

    import runpy; runpy.run_path("bench/latency.py")["latency_report"]()

What this leaves out: the front end's share (sending the new image to the page and
painting it), which the browser tests see but do not time.
"""

from __future__ import annotations

import numpy as np

from genlab.live import explorers

__all__ = ["latency_report"]


def latency_report() -> dict[str, dict[str, float]]:
    """Drive every live explorer through its demo changes; time each redraw in the kernel.

    Returns:
        explorer name -> {"changes": redraws timed, "p50_ms", "p95_ms", "max_ms",
        "budget_ms": its limit at p95}.
    """
    report = {}
    for box in explorers():
        box.redraw_seconds.clear()
        for control, value in box.demo_changes:
            if control.value != value:  # setting the same value again redraws nothing
                control.value = value
        ms = np.array(box.redraw_seconds) * 1000
        report[box.name] = {
            "changes": len(ms),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "max_ms": round(float(ms.max()), 1),
            "budget_ms": getattr(box, "budget_ms", 100),
        }
    return report
