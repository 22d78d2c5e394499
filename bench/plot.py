"""The charts of docs/performance.md, drawn from the figures the benchmarks printed.

    .venv/bin/python -m bench.plot        # reads docs/figures/scale.json, writes docs/figures/*.svg

``scale.json`` holds what the scale benchmarks printed on their last run here (each entry
names the command that printed it and when): it is copied from their output, never
computed here. Two charts:

- ``scale-goals.svg``: every scale goal as a multiple of what its aim allows (measured ÷
  aim where lower is better, aim ÷ measured where higher is better), so 1.0 is the aim and
  a bar past it is a goal not met;
- ``sharded-fanout.svg``: seconds from the firing to all queued for 1,000,000 people, by
  parallel workers: the sharded fan-out against the bare SendMessageBatch loop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pygal
from pygal.style import DefaultStyle

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"
STYLE = DefaultStyle(background="white", plot_background="white", font_family="sans-serif")
NO_SCRIPT: list[str] = []  # pygal links its tooltip script from a CDN by default: none here


def goals_chart(goals: list[dict[str, Any]]) -> pygal.HorizontalBar:
    """One bar per goal, at measured / allowed: at most 1.0 is met."""
    chart = pygal.HorizontalBar(style=STYLE, js=NO_SCRIPT, width=900, height=60 + 34 * len(goals),
                                show_legend=False, print_values=True,
                                value_formatter=lambda v: f"{v:.2f}",
                                title="Scale goals: measured as a multiple of the aim"
                                      " (1.00 = the aim; past it, not met)")  # fmt: skip
    chart.x_labels = [goal["goal"] for goal in reversed(goals)]
    chart.add("of the aim", [_of_aim(goal) for goal in reversed(goals)])
    return chart


def _of_aim(goal: dict[str, Any]) -> dict[str, Any]:
    measured, aim = float(goal["measured"]), float(goal["aim"])
    value = measured / aim if goal["better"] == "lower" else aim / measured
    label = f"measured {measured:g}, aim {aim:g} ({goal['better']} is better)"
    return {"value": round(value, 2), "color": "#2e7d32" if value <= 1 else "#c62828",
            "label": label}  # fmt: skip


def fanout_chart(fanout: dict[str, Any]) -> pygal.Line:
    chart = pygal.Line(style=STYLE, js=NO_SCRIPT, width=760, height=440, dots_size=4,
                       print_values=True, legend_at_bottom=True, truncate_legend=-1,
                       margin_right=60,
                       value_formatter=lambda v: f"{v:.1f} s", include_x_axis=True,
                       title=f"Fan-out of {fanout['users']:,} people: seconds to all queued",
                       x_title="parallel workers", y_title="seconds")  # fmt: skip
    chart.x_labels = [str(workers) for workers in fanout["workers"]]
    chart.add("sharded fan-out", fanout["sharded_seconds"])
    chart.add("bare SendMessageBatch loop", fanout["bare_seconds"])
    return chart


def main() -> None:
    figures = json.loads((FIGURES / "scale.json").read_text())
    goals_chart(figures["goals"]).render_to_file(str(FIGURES / "scale-goals.svg"))
    fanout_chart(figures["sharded_fanout"]).render_to_file(str(FIGURES / "sharded-fanout.svg"))
    print(f"wrote {FIGURES / 'scale-goals.svg'} and {FIGURES / 'sharded-fanout.svg'}")


if __name__ == "__main__":
    main()
