"""Draws docs/performance.svg from the end-to-end benchmark's records.

    python3 benches/chart.py [--input target/receivers-e2e.jsonl]
                             [--instructions target/instructions.jsonl]
                             [--out docs/performance.svg]

Panels, one under the other:

* CPU µs per request for each receiver (bare route, handwritten, the
  Receiver, the Receiver with the SQLite inbox), pinned and unpinned side by
  side; the Receiver's bars say how it compares with the handwritten one.
* p99 latency for each receiver, with the ratio to the bare route.
* Instructions per delivery (bare, handwritten, pipeline), when
  `benches/instructions.sh` has written its file: the latest line.

Medians over rounds, computed by `summary.py` (the same figures as its
table). The title names the commit and date the records hold. The SVG is
self-contained (no fonts or images to fetch) and draws its own white
background. Python 3 standard library only.
"""

import argparse
import json
import math
import os
import sys
from pathlib import Path
from xml.sax.saxutils import escape

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, str(Path(__file__).resolve().parent))
from summary import load, medians  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

MODES = ["bare", "handwritten", "pipeline", "sqlite"]
LABELS = {
    "bare": "bare axum route",
    "handwritten": "handwritten receiver",
    "pipeline": "hookwarden Receiver",
    "sqlite": "Receiver, SQLite inbox",
}
SETTINGS = ["pinned", "unpinned"]
SETTING_LABELS = {
    "pinned": "pinned: server on CPU 0, load on CPU 1",
    "unpinned": "unpinned: both free on both CPUs, server with 2 threads",
}
COLOURS = {"pinned": "#3b6ab0", "unpinned": "#e3a230", "instructions": "#5a8f6a"}

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
INK = "#1f2328"
MUTED = "#59636e"
GRID = "#d8dee4"

WIDTH = 820
LEFT = 180  # room for the receivers' names
RIGHT = 180  # room for the values and ratios past the longest bar
BAR = 16
GAP = 3  # between the bars of one receiver
GROUP_GAP = 14
CUT = 14  # how far a cut bar runs past the axis


class Svg:
    def __init__(self):
        self.parts = []

    def text(self, x, y, content, size=12, weight="normal", fill=INK, anchor="start"):
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
            f'fill="{fill}" text-anchor="{anchor}">{escape(content)}</text>'
        )

    def rich(self, x, y, spans, size=12, anchor="start"):
        """One line of text in pieces, a small gap between them: (content, weight)."""
        inner = "".join(
            f'<tspan dx="{7 if i else 0}" font-weight="{weight}">{escape(content)}</tspan>'
            for i, (content, weight) in enumerate(spans)
        )
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{INK}" '
            f'text-anchor="{anchor}">{inner}</text>'
        )

    def rect(self, x, y, w, h, fill, title=None):
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{h:.1f}" '
            f'fill="{fill}" rx="2">{tip}</rect>'
        )

    def line(self, x1, y1, x2, y2, stroke=GRID, width=1):
        self.parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{stroke}" stroke-width="{width}"/>'
        )

    def render(self, height):
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="{escape(FONT)}" '
            f'role="img" aria-labelledby="title">'
        )
        background = f'<rect width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>'
        return "\n".join([head, background, *self.parts, "</svg>"]) + "\n"


def nice_ticks(top, count=5):
    """Round tick values from 0 past `top`: steps of 1, 2 or 5 × 10^k."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def tick_label(value):
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def axis_end(values_by_mode):
    """The value at the axis's end. A mode far above all the others (the
    SQLite inbox's p99, say) would squeeze them into a few pixels: its bars
    are cut at the axis instead, marked as cut, with their value printed."""
    tops = sorted(max(v) for v in values_by_mode.values() if v)
    if len(tops) > 1 and tops[-1] > 2.5 * tops[-2]:
        return nice_ticks(tops[-2] * 1.15)[-1]
    return nice_ticks(tops[-1])[-1]


class Plot:
    """The bars' area of one panel: a linear axis from 0, ticks and grid."""

    def __init__(self, svg, y, height, end, unit):
        self.svg, self.y, self.height = svg, y, height
        self.width = WIDTH - LEFT - RIGHT
        self.end = end
        for tick in nice_ticks(end):
            if tick > end:
                break
            x = self.x(tick)
            svg.line(x, y - 4, x, y + height + 4)
            svg.text(x, y + height + 18, tick_label(tick), size=11, fill=MUTED, anchor="middle")
        svg.text(LEFT + self.width / 2, y + height + 34, unit, size=11, fill=MUTED, anchor="middle")

    def x(self, value):
        return LEFT + value / self.end * self.width

    def bar(self, y, value, colour, spans, tip):
        """A bar from 0 to `value` (cut past the axis's end), and its label."""
        cut = value > self.end
        right = self.x(min(value, self.end)) + (CUT if cut else 0)
        self.svg.rect(LEFT, y, right - LEFT, BAR, colour, tip)
        if cut:
            # Two white slashes where the bar leaves the scale.
            for dx in (-CUT / 2 - 3, -CUT / 2 + 3):
                bx = right + dx
                self.svg.line(bx - 3, y + BAR + 1, bx + 3, y - 1, stroke="#ffffff", width=2.5)
        self.svg.rich(right + 6, y + BAR - 4, spans, size=11.5)

    def close(self):
        self.svg.line(LEFT, self.y - 4, LEFT, self.y + self.height + 4, stroke=MUTED)
        return self.y + self.height + 44


def panel_heading(svg, y, title, note):
    svg.text(24, y + 18, title, size=15, weight="600")
    svg.text(24, y + 36, note, size=12, fill=MUTED)
    return y + 52


def grouped_panel(svg, y, title, note, med, metric, unit, fmt, ratio_to, ratio_modes):
    """Horizontal bars, one group per receiver, one bar per setting.

    Each bar of a mode in `ratio_modes` says how it compares with
    `ratio_to` in the same setting. Returns the y below the panel.
    """
    settings = [s for s in SETTINGS if any((s, m) in med for m in MODES)]
    modes = [m for m in MODES if any((s, m) in med for s in settings)]
    end = axis_end({m: [med[(s, m)][metric] for s in settings if (s, m) in med] for m in modes})
    y = panel_heading(svg, y, title, note)
    group = len(settings) * BAR + (len(settings) - 1) * GAP
    plot = Plot(svg, y, len(modes) * group + (len(modes) - 1) * GROUP_GAP, end, unit)
    for i, mode in enumerate(modes):
        gy = y + i * (group + GROUP_GAP)
        svg.text(LEFT - 10, gy + group / 2 + 4, LABELS[mode], size=12.5, anchor="end")
        for j, setting in enumerate(settings):
            m = med.get((setting, mode))
            if not m:
                continue
            value = m[metric]
            spans = [(fmt(value), "normal")]
            base = med.get((setting, ratio_to))
            if mode in ratio_modes and base and base[metric] > 0:
                spans.append((f"{value / base[metric]:.2f}× {ratio_to}", "700"))
            tip = f"{LABELS[mode]}, {setting}: {fmt(value)}"
            plot.bar(gy + j * (BAR + GAP), value, COLOURS[setting], spans, tip)
    return plot.close()


def instructions_panel(svg, y, record):
    modes = [m for m in ["bare", "handwritten", "pipeline"] if m in record]
    end = axis_end({m: [record[m]] for m in modes})
    note = "callgrind, in process: one signed 1 KiB delivery, answered and handled"
    if record.get("commit"):
        note += f" (commit {record['commit']})"
    y = panel_heading(svg, y, "Instructions per delivery (fewer is better)", note)
    plot = Plot(svg, y, len(modes) * BAR + (len(modes) - 1) * GROUP_GAP, end, "instructions")
    for i, mode in enumerate(modes):
        by = y + i * (BAR + GROUP_GAP)
        value = record[mode]
        svg.text(LEFT - 10, by + BAR - 4, LABELS[mode], size=12.5, anchor="end")
        spans = [(f"{value / 1000:.1f}k", "normal")]
        if mode == "pipeline" and record.get("handwritten"):
            spans.append((f"{value / record['handwritten']:.2f}× handwritten", "700"))
        plot.bar(by, value, COLOURS["instructions"], spans, f"{LABELS[mode]}: {value:,}")
    return plot.close()


def count(value):
    """A count, or the sum of a map of counts (loadgen's `non_2xx`)."""
    if isinstance(value, dict):
        return sum(value.values())
    return value or 0


def latest_instructions(path, commits):
    """The latest line of instructions.jsonl, preferring one measured at a
    commit of the end-to-end run."""
    if not path or not os.path.exists(path):
        return None
    lines = [json.loads(line) for line in open(path) if line.strip()]
    same = [r for r in lines if r.get("commit") in commits]
    return (same or lines or [None])[-1]


def describe(records):
    """What the records say about the run: commits, dates, load, rounds."""

    def values(key):
        return sorted({str(r[key]) for r in records if r.get(key) is not None})

    runs = [r["run"] for r in records]
    return {
        "commits": values("commit"),
        "dates": values("date"),
        "rounds": max((r.get("round", 1) for r in records), default=1),
        "connections": sorted({r["connections"] for r in runs if "connections" in r}),
        "body_bytes": sorted({r["body_bytes"] for r in runs if "body_bytes" in r}),
        "errors": sum(count(r.get("non_2xx")) + count(r.get("errors")) for r in runs),
    }


def chart(input_path, instructions_path):
    records = [json.loads(line) for line in open(input_path) if line.strip()]
    if not records:
        raise SystemExit(f"chart: no records in {input_path}")
    med = medians(load(input_path))
    about = describe(records)

    instructions = latest_instructions(instructions_path, about["commits"])

    svg = Svg()
    svg.parts.append(
        '<title id="title">hookwarden: CPU time, p99 latency and instructions per delivery '
        "against a handwritten receiver and a bare route</title>"
    )
    title = "hookwarden against a handwritten receiver and a bare route"
    svg.text(24, 34, title, size=19, weight="700")
    subtitle = []
    if about["commits"]:
        subtitle.append("commit " + ", ".join(about["commits"]))
    if about["dates"]:
        subtitle.append(" to ".join(dict.fromkeys([about["dates"][0], about["dates"][-1]])))
    load_desc = []
    if about["connections"]:
        load_desc.append(f"{'/'.join(map(str, about['connections']))} keep-alive connections")
    if about["body_bytes"]:
        sizes = "/".join(
            f"{b / 1024:g} KiB" if b % 1024 == 0 else f"{b} B" for b in about["body_bytes"]
        )
        load_desc.append(f"{sizes} Standard Webhooks deliveries")
    subtitle.extend(load_desc)
    rounds = about["rounds"]
    subtitle.append(f"median of {rounds} round{'s' if rounds != 1 else ''}")
    svg.text(24, 56, " · ".join(subtitle), size=12.5, fill=MUTED)

    # Legend.
    x = 24
    settings = [s for s in SETTINGS if any((s, m) in med for m in MODES)]
    for setting in settings:
        svg.rect(x, 72, 12, 12, COLOURS[setting])
        svg.text(x + 18, 82, SETTING_LABELS[setting], size=12)
        x += 18 + 7.0 * len(SETTING_LABELS[setting]) + 24

    y = 100
    y = grouped_panel(
        svg,
        y,
        "CPU time per request (lower is better)",
        "the server's user + system CPU time divided by the requests it answered",
        med,
        "cpu_us",
        "CPU µs per request",
        lambda v: f"{v:.1f} µs",
        "handwritten",
        {"pipeline"},
    )
    y = grouped_panel(
        svg,
        y,
        "p99 latency (lower is better)",
        "as seen by the load generator, compared with the bare route in the same setting",
        med,
        "p99",
        "p99 µs",
        lambda v: f"{v:,.0f} µs",
        "bare",
        {"handwritten", "pipeline", "sqlite"},
    )
    if instructions:
        y = instructions_panel(svg, y, instructions)

    foot = "benches/receivers_e2e.sh, drawn by benches/chart.py; "
    foot += "ratios compare runs of one session."
    if about["errors"]:
        foot += f" {about['errors']:,} non-2xx answers or connection errors in the records."
    svg.text(24, y + 8, foot, size=11, fill=MUTED)
    return svg.render(y + 22)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(ROOT / "target/receivers-e2e.jsonl"))
    parser.add_argument("--instructions", default=str(ROOT / "target/instructions.jsonl"))
    parser.add_argument("--out", default=str(ROOT / "docs/performance.svg"))
    args = parser.parse_args(argv)
    svg = chart(args.input, args.instructions)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(svg, encoding="utf-8")
    print(f"chart: wrote {args.out}")


if __name__ == "__main__":
    main()
