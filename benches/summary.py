"""Medians and ratios of a receivers_e2e.sh run (target/receivers-e2e.jsonl):
the Receiver against the handwritten receiver and the bare route, measured
in the same run. Markdown on stdout.

    python3 benches/summary.py target/receivers-e2e.jsonl
"""

import json
import statistics
import sys


def load(path):
    runs = [json.loads(line) for line in open(path)]
    table = {}
    for r in runs:
        run = r["run"]
        cpu_us = r["cpu_ticks"] / r["ticks_per_second"] * 1e6 / max(run["requests"], 1)
        table.setdefault((r["setting"], r["mode"]), []).append(
            {"rps": run["rps"], "cpu_us": cpu_us, "p99": run["p99_us"], "rss": r["rss_kib"] / 1024}
        )
    return table


def medians(table):
    return {
        key: {m: statistics.median(v[m] for v in values) for m in values[0]}
        for key, values in table.items()
    }


def main(path):
    med = medians(load(path))
    settings = sorted({s for s, _ in med}, key=["pinned", "unpinned"].index)
    for setting in settings:
        base = med.get((setting, "bare"))
        hand = med.get((setting, "handwritten"))
        print(f"\n{setting}:\n")
        print("| receiver | CPU µs/request | vs handwritten | req/s | p99 µs | p99 vs bare | peak RSS MiB |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for mode in ["bare", "handwritten", "pipeline", "sqlite"]:
            m = med.get((setting, mode))
            if not m:
                continue
            vs_hand = f"{m['cpu_us'] / hand['cpu_us']:.2f}×" if hand else "—"
            vs_bare = f"{m['p99'] / base['p99']:.2f}×" if base else "—"
            print(
                f"| {mode} | {m['cpu_us']:.1f} | {vs_hand} | {m['rps']:,.0f} | {m['p99']:,.0f} | "
                f"{vs_bare} | {m['rss']:.0f} |"
            )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/receivers-e2e.jsonl")
