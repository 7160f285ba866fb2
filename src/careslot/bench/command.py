"""`careslot bench`: options in, report.json + report.md + bench.png out."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from rich.console import Console

from careslot.bench import chart, report, runner, summary, wrk
from careslot.config import get_settings

QUICK = {"appointments": 10_000, "duration": 3, "connections": 32}
FULL = {"appointments": 100_000, "duration": 15, "connections": 64}


def run_command(
    *,
    appointments: int | None,
    duration: float | None,
    connections: int | None,
    workers: int,
    out: Path,
    quick: bool,
    reuse_db: bool,
    database: str | None,
    scale: bool,
    console: Console,
) -> int:
    if wrk.wrk_path() is None:
        console.print("[red]careslot bench needs wrk: apt-get install -y wrk[/red]")
        return 2
    defaults = QUICK if quick else FULL
    command = "careslot " + shlex.join(sys.argv[1:])
    settings = get_settings()
    if scale:
        from careslot.bench import scale as scale_runs

        # Few connections: the p50 then shows service time, not queueing behind others.
        scale_runs.run(
            out=out,
            workers=workers,
            reuse=reuse_db,
            quick=quick,
            duration=duration,
            connections=connections or 4,
            settings=settings,
            console=console,
            command=command,
        )
        return 0
    options = runner.Options(
        appointments=appointments or int(defaults["appointments"]),
        duration=duration or float(defaults["duration"]),
        connections=connections or int(defaults["connections"]),
        workers=workers,
        out=out,
        quick=quick,
        reuse_db=reuse_db,
        database=database,
    )
    result = runner.run(options, settings, console)
    figures = summary.summarize(result)
    report.write(out, result, figures, command)
    chart.draw(out, figures)
    console.print((out / "report.md").read_text(), markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"[green]wrote {out / 'report.json'}, {out / 'report.md'}, {out / chart.CHART_NAME}[/green]"
    )
    return 0 if result["double_bookings"]["total"] == 0 else 1
