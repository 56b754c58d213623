"""Time and memory of every module, run as a student runs it.

Each source notebook is executed top to bottom, `--repeats` times, each time in a fresh
kernel started in the notebook's folder. For every run we record the wall-clock seconds
from the first cell to the last (kernel start-up excluded) and the peak resident memory
of the kernel and its child processes: the kernel's own high-water mark (`VmHWM`) and the
largest sum over the process tree seen by a sampler every 0.1 s, whichever is larger.

Budget per module: a median of 60 s and a peak of 1 GB on 2 CPU cores.

After the timed run, the same kernel drives every live widget through its controls
(`latency_report` of bench/latency.py) and records how long each redraw took in the kernel,
p50 and p95 (budget: 100 ms at p95, or the widget's own `budget_ms`: 50 ms for the
diffusion stepper's frames).

What this leaves out: kernel start-up time, the front end's memory, and the cost of
drawing widgets in a browser (sending the new image to the page and painting it).

    python bench/run.py [MODULE ...] [--repeats 3] [--json bench/results/bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from jupyter_client import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
BUDGET = {"seconds": 60, "memory_mb": 1024, "redraw_p95_ms": 100}
LATENCY = Path(__file__).with_name("latency.py")
PROBE = (
    f"import json, runpy; print(json.dumps(runpy.run_path({str(LATENCY)!r})['latency_report']()))"
)
MB = 2**20


def modules() -> list[str]:
    """Every folder of source/ holding a notebook of its own name."""
    return sorted(p.parent.name for p in ROOT.glob("source/*/*.ipynb") if p.stem == p.parent.name)


class PeakMemory(threading.Thread):
    """Samples the summed resident memory of a process and its children until stopped."""

    def __init__(self, pid: int, every: float = 0.1):
        super().__init__(daemon=True)
        self.process, self.every, self.peak = psutil.Process(pid), every, 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:  # a child ended between listing and reading
                pass
            self._stop_event.wait(self.every)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def high_water_mark(pid: int) -> int:
    """The kernel's own peak resident memory in bytes, from /proc (0 where there is none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_once(module: str, widgets: bool = True) -> tuple[float, int, dict]:
    """Execute one module in a fresh kernel; return (seconds, peak bytes, widget latency).

    With `widgets=False` the latency probe is skipped and the latency is {}.
    """
    path = ROOT / "source" / module / f"{module}.ipynb"
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(path.parent))
    pid = km.provisioner.process.pid
    sampler = PeakMemory(pid)
    client = NotebookClient(nb, km=km, timeout=300)
    try:
        sampler.start()
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
        peak = max(sampler.stop(), high_water_mark(pid))
        latency = {}
        if widgets:  # the kernel is still up: we passed in its manager, so nbclient keeps it
            probe = nbformat.v4.new_code_cell(PROBE)
            nb.cells.append(probe)
            client.execute_cell(probe, len(nb.cells) - 1)
            latency = json.loads(probe.outputs[0]["text"])
    except CellExecutionError as error:
        index = next((i for i, c in enumerate(nb.cells) if failed_in(c)), None)
        where = (
            f"cell {index} (0-based, {nb.cells[index].source[:60]!r})"
            if index is not None
            else "a cell"
        )
        raise RuntimeError(f"{where}: {error.ename}: {error.evalue}") from None
    finally:
        sampler.stop()
        if client.kc is not None:
            client.kc.stop_channels()
        km.shutdown_kernel(now=True)
    return seconds, peak, latency


def failed_in(cell) -> bool:
    """Whether an executed cell ended in an error."""
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to run (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "bench.json")
    args = parser.parse_args(argv)

    results, failed = [], False
    header = f"{'module':<32} {'median s':>9} {'min s':>7} {'max s':>7} {'peak MB':>8}  budget"
    print(header + "\n" + "-" * len(header), flush=True)
    for module in args.modules or modules():
        try:
            runs = [run_once(module, widgets=i == 0) for i in range(args.repeats)]
        except Exception as error:  # a notebook that fails is reported, the others still run
            print(f"{module:<32} FAILED: {type(error).__name__}: {str(error)[-500:]}", flush=True)
            results.append({"module": module, "error": str(error), "within_budget": False})
            failed = True
            continue
        seconds = [s for s, _, _ in runs]
        peak_mb = max(p for _, p, _ in runs) / MB
        median = statistics.median(seconds)
        latency = runs[0][2]  # measured in the first run's kernel only
        slow = [
            w
            for w, r in latency.items()
            if r["p95_ms"] > r.get("budget_ms", BUDGET["redraw_p95_ms"])
        ]
        ok = median <= BUDGET["seconds"] and peak_mb <= BUDGET["memory_mb"] and not slow
        failed |= not ok
        print(
            f"{module:<32} {median:>9.1f} {min(seconds):>7.1f} {max(seconds):>7.1f} "
            f"{peak_mb:>8.0f}  {'ok' if ok else 'OVER'}",
            flush=True,
        )
        for widget, r in latency.items():
            print(
                f"  {widget}: {r['changes']} changes, redraw p50 {r['p50_ms']:.0f} ms, "
                f"p95 {r['p95_ms']:.0f} ms (budget {r['budget_ms']} ms), max {r['max_ms']:.0f} ms",
                flush=True,
            )
        results.append(
            {
                "module": module,
                "runs_seconds": [round(s, 2) for s in seconds],
                "median_seconds": round(median, 2),
                "peak_memory_mb": round(peak_mb, 1),
                "widget_redraw": latency,
                "within_budget": ok,
            }
        )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    args.json.write_text(
        json.dumps({"machine": machine, "budget": BUDGET, "modules": results}, indent=2) + "\n"
    )
    print(f"\n{args.repeats} run(s) each, fresh kernel per run; JSON in {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
