"""The assistant explorer of module 09: a slider for n over what best-of-n keeps, and one
for DPO's beta over what the tuned creator answers, each beside the creator it started
from. `assistant_view` computes, the explorer is the thin UI, `assistant_snapshots` the
static figure beside it.

The design is shared by every topic: see `genlab.live`. What this module leaves out:
drawing, scoring or tuning anything. Every answer shown was drawn before (the pool and
its sweep, the evaluations), so a move of a slider only looks up; and retrieval, which
`plot_grounding` shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import Bbox

from ..figures import VERDICT_COLORS, new_figure
from ..live import blitted_png, live_figure, make_live
from .figures import VERDICTS, draw_verdict_bars
from .model import UNSEEN, Evaluation, Pool, verdicts

__all__ = ["AssistantView", "assistant_view", "assistant_snapshots", "assistant_explorer"]

MARKS = {"true": "✓", "false": "✗", "nonsense": "?"}  # beside the colour, for every eye
_SWEEP_KEYS = ("seen", "unseen", "reward", "distinct", "kept")


@dataclass(frozen=True)
class AssistantView:
    """What the assistant explorer shows for one n and one beta.

    Attributes:
        n: answers drawn for each question, of which best-of-n kept one.
        beta: DPO's beta.
        countries: the countries of the table's rows.
        kept: each country's answer best-of-n kept in the pool's first group, as drawn.
        kept_verdicts: "true", "false" or "nonsense" for each (`model.verdicts`).
        best_of_n: at n, over every country and group of the pool: "seen" and "unseen"
            (`model.rates` of the answers kept), "reward" (their mean reward) and
            "distinct" (different answers kept per country).
        fewest: the same at the smallest n of the sweep (n = 1: no choice at all).
        fewest_n: that smallest n.
        groups: how many answers best-of-n kept for each country (the pool's groups).
        tuned_samples: each country's first answers from the creator DPO tuned with beta.
        tuned_verdicts: the verdict of each.
        base_samples, base_verdicts: the same for the base creator.
        tuned, base: the two `model.Evaluation`s (rates, distinct answers, prose loss).
    """

    n: int
    beta: float
    countries: tuple[str, ...]
    kept: tuple[str, ...]
    kept_verdicts: tuple[str, ...]
    best_of_n: dict
    fewest: dict
    fewest_n: int
    groups: int
    tuned_samples: tuple[tuple[str, ...], ...]
    tuned_verdicts: tuple[tuple[str, ...], ...]
    base_samples: tuple[tuple[str, ...], ...]
    base_verdicts: tuple[tuple[str, ...], ...]
    tuned: Evaluation
    base: Evaluation


def _default_countries(pool: Pool) -> list[str]:
    """Seven countries, in the pool's order: the four of those training showed that the
    creator answered least often truly in the pool (where a choice among answers can
    matter; the first in the pool's order on ties) and the first three it never showed."""
    true = {c: float(np.mean(pool.verdicts[i] == "true")) for i, c in enumerate(pool.countries)}
    seen = sorted((c for c in pool.countries if c not in UNSEEN), key=true.get)[:4]
    unseen = [c for c in pool.countries if c in UNSEEN][:3]
    return [c for c in pool.countries if c in seen or c in unseen]


def _checked(pool: Pool, sweep, base, tuned, countries) -> list[str]:
    """The countries to show, once every input is known to hold what the explorer reads;
    otherwise a ValueError that says what is wrong."""
    if not sweep:
        raise ValueError("an empty sweep: pass model.best_of_n_sweep(pool, ...)")
    if not tuned:
        raise ValueError("no tuned creators: pass a dict of beta -> model.evaluate(...)")
    for n, measured in sweep.items():
        missing = [k for k in _SWEEP_KEYS if k not in measured]
        if missing:
            raise ValueError(f"sweep[{n}] has no {', '.join(map(repr, missing))}: "
                             "pass model.best_of_n_sweep(pool, ...)")  # fmt: skip
        if np.shape(measured["kept"])[0] != len(pool.countries):
            raise ValueError(f'sweep[{n}]["kept"] has {np.shape(measured["kept"])[0]} rows, the '
                             f"pool {len(pool.countries)} countries: was the sweep made from "
                             "this pool?")  # fmt: skip
    for name, evaluation in [("base", base), *((f"tuned[{b!r}]", e) for b, e in tuned.items())]:
        if not isinstance(evaluation, Evaluation):
            raise ValueError(f"{name} must be a model.Evaluation (model.evaluate(...)), "
                             f"got {type(evaluation).__name__}")  # fmt: skip
    countries = _default_countries(pool) if countries is None else list(countries)
    if not countries:
        raise ValueError("no countries to show: name at least one, or pass None")
    unknown = [c for c in countries if c not in pool.countries]
    if unknown:
        raise ValueError(f"the pool asked nothing about {', '.join(map(repr, unknown))}; it "
                         f"holds {', '.join(pool.countries)}")  # fmt: skip
    for name, evaluation in [("base", base), *((f"tuned[{b!r}]", e) for b, e in tuned.items())]:
        absent = [c for c in countries if c not in evaluation.samples]
        if absent:
            raise ValueError(f"{name} has no samples about {', '.join(map(repr, absent))}")
    return countries


def _judged(country: str, answers: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    answers = tuple(str(a) for a in answers)
    return answers, tuple(verdicts([country] * len(answers), answers))


def assistant_view(
    pool: Pool,
    sweep: Mapping[int, dict],
    base: Evaluation,
    tuned: Mapping[float, Evaluation],
    n: int,
    beta: float,
    countries: Sequence[str] | None = None,
    per_country: int = 3,
) -> AssistantView:
    """What the explorer shows at `n` and `beta`: the answers best-of-n kept and the
    tuned creator's answers about a few countries, judged, and what was measured.

    Args:
        pool: the `model.Pool` the sweep chose from.
        sweep: `model.best_of_n_sweep(pool, ...)`; `n` is one of its keys.
        base: `model.evaluate(...)` of the creator the pool and the tuning started from.
        tuned: beta -> `model.evaluate(...)` of the creator DPO tuned with it; `beta` is
            one of its keys.
        countries: the rows, in this order; None: four countries of `SEEN`, those the
            creator answered least often truly in the pool, and three of `UNSEEN`, in the
            pool's order.
        per_country: how many of each creator's samples to show for a country.
    Returns:
        An `AssistantView`.
    """
    countries = _checked(pool, sweep, base, tuned, countries)
    if n not in sweep:
        raise ValueError(f"n = {n} is not in the sweep: {', '.join(map(str, sorted(sweep)))}")
    if beta not in tuned:
        tried = ", ".join(f"{b:g}" for b in sorted(tuned))
        raise ValueError(f"beta = {beta} was not tuned: {tried}")
    rows = [pool.countries.index(c) for c in countries]  # the kept answers' rows
    kept = [str(sweep[n]["kept"][i][0]) for i in rows]
    tuned_judged = [_judged(c, tuned[beta].samples[c][:per_country]) for c in countries]
    base_judged = [_judged(c, base.samples[c][:per_country]) for c in countries]
    fewest_n = min(sweep)
    measured = lambda at: {k: sweep[at][k] for k in _SWEEP_KEYS if k != "kept"}  # noqa: E731
    return AssistantView(
        n=n,
        beta=beta,
        countries=tuple(countries),
        kept=tuple(kept),
        kept_verdicts=tuple(verdicts(countries, kept)),
        best_of_n=measured(n),
        fewest=measured(fewest_n),
        fewest_n=fewest_n,
        groups=int(np.shape(sweep[n]["kept"])[1]),
        tuned_samples=tuple(a for a, _ in tuned_judged),
        tuned_verdicts=tuple(v for _, v in tuned_judged),
        base_samples=tuple(a for a, _ in base_judged),
        base_verdicts=tuple(v for _, v in base_judged),
        tuned=tuned[beta],
        base=base,
    )


# ---------------------------------------------------------------------------
# What the numbers are, in words


def shown(answer: str, width: int = 10) -> str:
    """An answer as a cell shows it: without its leading space, a line break as an arrow,
    cut to `width` characters (an ellipsis marks the cut)."""
    text = answer.strip(" ").replace("\n", "↵")
    return text if len(text) <= width else text[: width - 1] + "…"


def _shares(rates: dict, kinds=VERDICTS) -> str:
    return ", ".join(f"{rates[k]:.0%} {k}" for k in kinds)


def _caption(view: AssistantView) -> str:
    """The explorer's caption: what each number is, and its value."""
    b, f, t, base = view.best_of_n, view.fewest, view.tuned, view.base
    best = (
        f"<b>Best of n = {view.n}.</b> For each question the base creator drew n answers "
        f"(no line retrieved) and the reward model kept the one it scored highest; this was "
        f"done {view.groups} times for each of the pool's countries. Of the answers kept: "
        f"seen countries {_shares(b['seen'])}; unseen countries {_shares(b['unseen'])}. Mean "
        f"reward of the answers kept {b['reward']:.2f}; different answers kept per country "
        f"{b['distinct']:.2f} of {view.groups}. At n = {view.fewest_n}: seen "
        f"{f['seen']['true']:.0%} true, unseen {_shares(f['unseen'], ('false', 'nonsense'))}, "
        f"reward {f['reward']:.2f}, {f['distinct']:.2f} different. The table shows each "
        f"country's answer kept from its first {view.n}."
    )
    tuning = (
        f"<b>DPO at β = {view.beta:g}.</b> The creator tuned on preference pairs, answering "
        f"without retrieval (its first samples in the table), beside the base creator: seen "
        f"countries {t.seen['true']:.0%} true (base {base.seen['true']:.0%}); unseen "
        f"countries {t.unseen['false']:.0%} false, {t.unseen['nonsense']:.0%} nonsense (base "
        f"{base.unseen['false']:.0%}, {base.unseen['nonsense']:.0%}); different answers per "
        f"country among its draws {t.distinct:.2f} (base {base.distinct:.2f}); loss on "
        f"held-out <i>Emma</i> {t.prose_loss:.3f} nats per character (base "
        f"{base.prose_loss:.3f}): what tuning cost ordinary text."
    )
    key = ", ".join(
        f"<span style='color:{VERDICT_COLORS[v]}'>{MARKS[v]} {v}</span>" for v in VERDICTS
    )
    return (
        f"<p style='font-size:90%;margin:2px 0'>{best}</p>"
        f"<p style='font-size:90%;margin:2px 0'>{tuning}</p>"
        f"<p style='font-size:90%;margin:2px 0'>Answers: {key} (false: another country's "
        f"capital).</p>"
    )


# ---------------------------------------------------------------------------
# The picture


def _cell(ax, x: float, y: float, answer: str, verdict: str, width: int = 10, **kwargs):
    return ax.text(x, y, f"{MARKS[verdict]} {shown(answer, width)}", color=VERDICT_COLORS[verdict],
                   transform=ax.transAxes, va="center", fontsize=8, **kwargs)  # fmt: skip


def _bar_rates(view: AssistantView) -> tuple[list[dict], list[dict]]:
    """The rates of the best-of-n bars and of the DPO bars, in the order they stand."""
    b, f, t, base = view.best_of_n, view.fewest, view.tuned, view.base
    return (
        [f["seen"], b["seen"], f["unseen"], b["unseen"]],
        [base.seen, t.seen, base.unseen, t.unseen],
    )


def _best_title(view: AssistantView) -> str:
    b, f = view.best_of_n, view.fewest
    return (f"best of n = {view.n}: mean reward kept {b['reward']:.2f} "
            f"(n = {view.fewest_n}: {f['reward']:.2f})\n{b['distinct']:.2f} different answers "
            f"kept per country (n = {view.fewest_n}: {f['distinct']:.2f})")  # fmt: skip


def _tuned_title(view: AssistantView) -> str:
    t, base = view.tuned, view.base
    return (f"DPO at β = {view.beta:g}: prose loss {t.prose_loss:.3f} nats/char "
            f"(base {base.prose_loss:.3f})\n{t.distinct:.2f} different answers per country "
            f"(base {base.distinct:.2f})")  # fmt: skip


_KEPT, _BASE, _TUNED = 0.15, 0.36, 0.68  # where the table's columns start
_STEP = 0.107  # between two answers of a creator
_WIDE = 20  # characters of a kept answer shown


class _Picture:
    """The explorer's figure: a table of answers on top (country, the answer best-of-n
    kept, the base creator's samples, the tuned creator's samples), and below two panels
    of stacked bars, best-of-n's shares at the smallest n and at n, and the base and
    tuned creators' shares.

    Laid out and drawn once. The picture is two halves, each drawn onto a saved copy of
    the rest: the n half (the kept answers, their header, the left bars and title) and the
    beta half (the tuned answers, their header, the right bars and title). Each half's
    pixels are kept for every value of its slider once drawn (`draw`), so a frame is two
    copies of kept pixels and a PNG: text is most of the cost of drawing a half.
    """

    def __init__(self, view: AssistantView):
        rows, per = len(view.countries), len(view.base_samples[0]) if view.base_samples else 0
        self.fig = new_figure(figsize=(10.5, 2.9 + 0.26 * rows), dpi=80, layout="constrained")
        self.canvas = FigureCanvasAgg(self.fig)
        grid = self.fig.add_gridspec(2, 2, height_ratios=[0.4 + 0.26 * rows, 2.5])
        self.table = self.fig.add_subplot(grid[0, :])
        self.best_ax = self.fig.add_subplot(grid[1, 0])
        self.tuned_ax = self.fig.add_subplot(grid[1, 1], sharey=self.best_ax)
        self.table.set_axis_off()
        ys = 1 - (np.arange(rows) + 1.5) / (rows + 1)
        top = 1 - 0.5 / (rows + 1)
        header = {"transform": self.table.transAxes, "va": "center", "fontsize": 9,
                  "weight": "bold"}  # fmt: skip
        self.table.text(0.0, top, "country", **header)
        self.kept_header = self.table.text(_KEPT, top, " ", **header)
        self.table.text(_BASE, top, "the base creator's answers", **header)
        self.tuned_header = self.table.text(_TUNED, top, " ", **header)
        self.table.plot([0, 1], [1 - 1 / (rows + 1)] * 2, color="#888888", lw=0.8,
                        transform=self.table.transAxes)  # fmt: skip
        self.kept, self.tuned = [], []
        for i, (country, y) in enumerate(zip(view.countries, ys, strict=True)):
            name = country + (" (unseen)" if country in UNSEEN else "")
            self.table.text(0.0, y, name, transform=self.table.transAxes, va="center", fontsize=8)
            for j, (answer, verdict) in enumerate(
                zip(view.base_samples[i], view.base_verdicts[i], strict=True)
            ):
                _cell(self.table, _BASE + j * _STEP, y, answer, verdict)
            self.kept.append(_cell(self.table, _KEPT, y, "", "true", _WIDE))
            self.tuned.append([_cell(self.table, _TUNED + j * _STEP, y, "", "true")
                               for j in range(per)])  # fmt: skip
        best_rates, tuned_rates = _bar_rates(view)
        x = [0, 1, 2.4, 3.4]
        self.best_bars = draw_verdict_bars(self.best_ax, x, best_rates)
        self.tuned_bars = draw_verdict_bars(self.tuned_ax, x, tuned_rates)
        fewest = f"n = {view.fewest_n}"
        self.best_ax.set_xticks(x, [f"seen\n{fewest}", "seen\nbest of n", f"unseen\n{fewest}",
                                    "unseen\nbest of n"], fontsize=8)  # fmt: skip
        self.tuned_ax.set_xticks(x, ["seen\nbase", "seen\ntuned", "unseen\nbase",
                                     "unseen\ntuned"], fontsize=8)  # fmt: skip
        self.best_ax.set(ylim=(0, 1), ylabel="share of answers")
        self.tuned_ax.tick_params(labelleft=False)
        self.tuned_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
                             frameon=False, title="answer", title_fontsize=8)  # fmt: skip
        for ax, title in ((self.best_ax, _best_title(view)), (self.tuned_ax, _tuned_title(view))):
            ax.set_title(title, fontsize=9)  # as long as any frame's: laid out for it
            ax.grid(axis="y", alpha=0.3)
        patches = lambda containers: [p for c in containers for p in c.patches]  # noqa: E731
        self.halves = {
            "n": [self.kept_header, *self.kept, *patches(self.best_bars), self.best_ax.title],
            "beta": [self.tuned_header, *(t for row in self.tuned for t in row),
                     *patches(self.tuned_bars), self.tuned_ax.title],
        }  # fmt: skip
        self.moving = [*self.halves["n"], *self.halves["beta"]]
        self.fig.draw_without_rendering()  # lay out once, then never again
        self.fig.set_layout_engine(None)
        for artist in self.moving:
            artist.set_animated(True)  # left out of the saved background
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        # each half's part of the background: its column of the table, its side below
        width, height = self.fig.bbox.width, self.fig.bbox.height
        (kept_x, _), (base_x, table_y), (tuned_x, _) = self.table.transAxes.transform(
            [(_KEPT, 0), (_BASE, 0), (_TUNED, 0)]
        )
        middle = (self.best_ax.bbox.x1 + self.tuned_ax.bbox.x0) / 2
        rectangles = {
            "n": [(kept_x - 2, table_y, base_x - 2, height), (0, 0, middle, table_y)],
            "beta": [(tuned_x - 2, table_y, width, height), (middle, 0, width, table_y)],
        }
        self.boxes = {half: [Bbox.from_extents(*r) for r in rects]
                      for half, rects in rectangles.items()}  # fmt: skip
        self.blank = {half: [self.canvas.copy_from_bbox(b) for b in boxes]
                      for half, boxes in self.boxes.items()}  # fmt: skip
        self.kept_pixels: dict[str, dict] = {"n": {}, "beta": {}}  # half -> value -> regions

    def update(self, view: AssistantView) -> None:
        """Set every moving artist to what `view` shows."""
        self.kept_header.set_text(f"best of n = {view.n} keeps")
        self.tuned_header.set_text(f"tuned with β = {view.beta:g}: its answers")
        for text, answer, verdict in zip(self.kept, view.kept, view.kept_verdicts, strict=True):
            text.set_text(f"{MARKS[verdict]} {shown(answer, _WIDE)}")
            text.set_color(VERDICT_COLORS[verdict])
        for row, answers, judged in zip(self.tuned, view.tuned_samples, view.tuned_verdicts,
                                        strict=True):  # fmt: skip
            for k, text in enumerate(row):
                answer, verdict = (answers[k], judged[k]) if k < len(answers) else ("", "true")
                text.set_text(f"{MARKS[verdict]} {shown(answer)}" if answer else "")
                text.set_color(VERDICT_COLORS[verdict])
        for containers, rates in zip((self.best_bars, self.tuned_bars), _bar_rates(view),
                                     strict=True):  # fmt: skip
            bottom = np.zeros(len(rates))
            for verdict, container in zip(VERDICTS, containers, strict=True):
                for bar, r, low in zip(container.patches, rates, bottom, strict=True):
                    bar.set_y(low)
                    bar.set_height(r[verdict])
                bottom = bottom + [r[verdict] for r in rates]
        self.best_ax.set_title(_best_title(view), fontsize=9)
        self.tuned_ax.set_title(_tuned_title(view), fontsize=9)

    def draw(self, view: AssistantView) -> None:
        """Put `view` on the canvas: each half from its kept pixels, or drawn (and kept)."""
        self.update(view)  # the artists show `view`, drawn or not
        for half, value in (("n", view.n), ("beta", view.beta)):
            kept = self.kept_pixels[half].get(value)
            if kept is None:
                for region in self.blank[half]:
                    self.canvas.restore_region(region)
                for artist in self.halves[half]:
                    self.fig.draw_artist(artist)
                kept = [self.canvas.copy_from_bbox(b) for b in self.boxes[half]]
                self.kept_pixels[half][value] = kept
            for region in kept:
                self.canvas.restore_region(region)

    def png(self, view: AssistantView) -> bytes:
        """A frame as PNG bytes."""
        self.draw(view)
        # blitted_png restores a region, draws what moves and encodes the canvas: given a
        # region the canvas already shows and nothing to draw, it encodes the frame as it is
        shown = self.kept_pixels["beta"][view.beta][-1]
        return blitted_png(self.canvas, shown, [])


# ---------------------------------------------------------------------------
# The static figure and the explorer


def assistant_snapshots(
    pool: Pool,
    sweep: Mapping[int, dict],
    base: Evaluation,
    tuned: Mapping[float, Evaluation],
    countries: Sequence[str] | None = None,
):
    """The static companion of `assistant_explorer`: a table with a row per country and a
    column for every n of the sweep (the answer best-of-n kept in the pool's first group),
    one for the base creator and one for every beta (each creator's first sample), each
    answer coloured and marked by its verdict; under each column, the shares measured
    over every country (seen countries: true; unseen: false and nonsense).

    Args: as `assistant_explorer`.
    """
    countries = _checked(pool, sweep, base, tuned, countries)
    ns, betas = sorted(sweep), sorted(tuned)
    views = [assistant_view(pool, sweep, base, tuned, n, betas[0], countries, 1) for n in ns]
    views += [assistant_view(pool, sweep, base, tuned, ns[0], b, countries, 1) for b in betas]
    columns = [(f"best of n = {n}", v.kept, v.kept_verdicts, v.best_of_n["seen"],
                v.best_of_n["unseen"]) for n, v in zip(ns, views, strict=False)]  # fmt: skip
    first = views[0]
    columns.append(("base creator", [s[0] for s in first.base_samples],
                    [v[0] for v in first.base_verdicts], base.seen, base.unseen))  # fmt: skip
    columns += [(f"DPO, β = {b:g}", [s[0] for s in v.tuned_samples],
                 [j[0] for j in v.tuned_verdicts], v.tuned.seen, v.tuned.unseen)
                for b, v in zip(betas, views[len(ns) :], strict=True)]  # fmt: skip
    rows = len(countries) + 3  # a header, the countries, two lines of shares
    width = 1.6 + 1.3 * len(columns)
    fig = new_figure(figsize=(width, 0.6 + 0.25 * rows))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.86 if rows < 8 else 0.9))
    ax.set_axis_off()
    x0, step = 1.6 / width, 1.3 / width
    ys = 1 - (np.arange(rows) + 0.5) / rows
    line = {"transform": ax.transAxes, "va": "center", "fontsize": 8}
    ax.text(0, ys[0], "country", weight="bold", **line)
    for i, country in enumerate(countries):
        ax.text(0, ys[i + 1], country + (" (unseen)" if country in UNSEEN else ""), **line)
    ax.text(0, ys[-2], "seen: true", color="#555555", **line)
    ax.text(0, ys[-1], "unseen: false / nonsense", color="#555555", **line)
    for k, (name, answers, judged, seen, unseen) in enumerate(columns):
        x = x0 + k * step
        ax.text(x, ys[0], name, weight="bold", **line)
        for i, (answer, verdict) in enumerate(zip(answers, judged, strict=True)):
            _cell(ax, x, ys[i + 1], answer, verdict, width=14)
        ax.text(x, ys[-2], f"{seen['true']:.0%}", color="#555555", **line)
        ax.text(x, ys[-1], f"{unseen['false']:.0%} / {unseen['nonsense']:.0%}", color="#555555",
                **line)  # fmt: skip
    ax.plot([0, 1], [1 - 1 / rows] * 2, color="#888888", lw=0.8, transform=ax.transAxes)
    ax.plot([0, 1], [1 - (rows - 2) / rows] * 2, color="#888888", lw=0.8, transform=ax.transAxes)
    fig.suptitle("What best-of-n keeps as n grows, and what the creator tuned by DPO answers "
                 "as β changes (✓ true, ✗ false, ? nonsense)", fontsize=10)  # fmt: skip
    return fig


def assistant_explorer(
    pool: Pool,
    sweep: Mapping[int, dict],
    base: Evaluation,
    tuned: Mapping[float, Evaluation],
    countries: Sequence[str] | None = None,
):
    """A slider for n over what best-of-n keeps, and one for DPO's beta over what the
    tuned creator answers, beside the base creator.

    On top, a table: for a few countries, the answer best-of-n kept at n (from the pool's
    first group of answers to that country), three of the base creator's answers and three
    of the creator tuned with beta, each coloured and marked true, false or nonsense.
    Below, the shares of true, false and nonsense answers, over every country: those
    best-of-n keeps at the smallest n and at n, and the base and tuned creators'. The
    titles and the caption give the mean reward kept, the different answers per country
    and the loss on held-out *Emma*, each beside the base's. Each half of the picture is
    drawn for every value of its slider when the explorer is made (about half a second),
    so that a move only puts kept pixels together.

    Args:
        pool: the `model.Pool` the sweep chose from.
        sweep: `model.best_of_n_sweep(pool, ...)`: the n slider's values are its keys.
        base: `model.evaluate(...)` of the creator the pool and the tuning started from.
        tuned: beta -> `model.evaluate(...)` of the creator DPO tuned with that beta: the
            beta slider's values are its keys.
        countries: the table's rows; None: the four countries training showed that the
            creator answered least often truly in the pool, and three it never showed.
    Returns:
        The live widget; its sliders are `n` and `beta`, its picture `image` (drawn by
        `picture`), its caption `caption`, and the `AssistantView` last drawn is `view`.
    """
    import ipywidgets as widgets

    countries = _checked(pool, sweep, base, tuned, countries)
    ns, betas = sorted(sweep), sorted(tuned)
    wide = {"description_width": "initial"}
    n = widgets.SelectionSlider(options=[(str(v), v) for v in ns], value=ns[0],
                                description="n, answers to choose from", style=wide,
                                layout=widgets.Layout(width="45%"))  # fmt: skip
    beta = widgets.SelectionSlider(options=[(f"{b:g}", b) for b in betas], value=betas[0],
                                   description="DPO's β", style=wide,
                                   layout=widgets.Layout(width="45%"))  # fmt: skip
    image, caption = widgets.Image(format="png"), widgets.HTML()
    picture = _Picture(assistant_view(pool, sweep, base, tuned, ns[0], betas[0], countries))
    # every half the sliders can ask for, drawn now: drawing a half's text takes 15 to 40 ms
    # (more on a busy machine), copying its kept pixels well under one
    for value in ns:
        picture.draw(assistant_view(pool, sweep, base, tuned, value, betas[0], countries))
    for value in betas:
        picture.draw(assistant_view(pool, sweep, base, tuned, ns[0], value, countries))

    def redraw():
        view = assistant_view(pool, sweep, base, tuned, n.value, beta.value, countries)
        image.value, caption.value = picture.png(view), _caption(view)
        box.view = view

    box = live_figure([widgets.HBox([n, beta]), image, caption])
    box.name = "assistant explorer"
    box.n, box.beta, box.image, box.caption, box.picture = n, beta, image, caption, picture
    changes = [(n, v) for v in ns[1:] + ns[-2::-1]] + [(beta, b) for b in betas[1:] + betas[-2::-1]]
    make_live(box, redraw, [n, beta], changes)
    return box
