"""PNG charts for organizers, drawn with matplotlib off-screen (Agg), in a worker thread:
drawing takes tens of milliseconds of CPU the event loop must not wait on."""

from __future__ import annotations

import asyncio
import io
from datetime import date

import matplotlib

matplotlib.use("Agg")  # no display: render to bytes only

from matplotlib.figure import Figure

from storage.web import WebStats, growth_days

GENERATION_COLOURS = ("#1b4965", "#5fa8d3", "#62b6cb", "#bee9e8", "#cae9ff", "#ffb703",
                      "#fb8500")


def _web_growth_png(stats: WebStats, title: str, generation_label: str,
                    total_label: str) -> bytes:
    days: list[date] = growth_days(stats)
    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.add_subplot()
    # Generations beyond the palette are drawn together as the last band ("6+").
    last = len(GENERATION_COLOURS) - 1
    bands: dict[int, list[int]] = {g: [0] * len(days) for g in range(last + 1)}
    for i, day in enumerate(days):
        for generation, count in stats.by_day_generation[day].items():
            bands[min(generation, last)][i] += count
    labels = [d.strftime("%d/%m") for d in days]
    bottom = [0] * len(days)
    for generation, counts in bands.items():
        if not any(counts):
            continue
        name = generation_label.format(n=f"{generation}+" if generation == last else generation)
        axes.bar(labels, counts, bottom=bottom, color=GENERATION_COLOURS[generation], label=name)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    before = stats.supporters - sum(stats.by_day[d] for d in days)
    running, cumulative = before, []
    for day in days:
        running += stats.by_day[day]
        cumulative.append(running)
    total_axes = axes.twinx()
    total_axes.plot(labels, cumulative, color="#d62828", marker="o", label=total_label)
    total_axes.set_ylim(bottom=0)
    axes.set_title(title)
    handles, names = axes.get_legend_handles_labels()
    more_handles, more_names = total_axes.get_legend_handles_labels()
    axes.legend(handles + more_handles, names + more_names, loc="upper left", fontsize="small")
    axes.tick_params(axis="x", labelrotation=45)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


async def web_growth_png(stats: WebStats, title: str, generation_label: str,
                         total_label: str) -> bytes:
    """Joins per day, stacked by generation, with the running total of supporters."""
    return await asyncio.to_thread(_web_growth_png, stats, title, generation_label, total_label)


def _calls_png(by_hour_room: dict[int, dict[str, int]], title: str) -> bytes:
    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.add_subplot()
    hours = list(range(min(by_hour_room, default=9), max(by_hour_room, default=20) + 1))
    rooms = sorted({room for counts in by_hour_room.values() for room in counts})
    bottom = [0] * len(hours)
    labels = [f"{h:02d}h" for h in hours]
    for index, room in enumerate(rooms):
        counts = [by_hour_room.get(h, {}).get(room, 0) for h in hours]
        axes.bar(labels, counts, bottom=bottom, label=room,
                 color=GENERATION_COLOURS[index % len(GENERATION_COLOURS)])
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_title(title)
    if rooms:
        axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


async def calls_per_hour_png(by_hour_room: dict[int, dict[str, int]], title: str) -> bytes:
    """Today's calls per hour, stacked by room."""
    return await asyncio.to_thread(_calls_png, by_hour_room, title)
