"""A worker freezes what its start-up built, once, so the collector's full passes skip it
(app.freeze_start_up). Checked in a process of its own: this one has started apps before."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, sys
    from careslot.app import create_app
    from careslot.config import Settings

    async def main():
        before = gc.get_freeze_count()
        for _ in range(2):
            app = create_app(Settings(database_url=sys.argv[1], redis_url=None))
            async with app.router.lifespan_context(app):
                print("FROZEN", before, gc.get_freeze_count())

    asyncio.run(main())
    """
)


def test_start_up_is_frozen_once_per_process(database_url: str) -> None:
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SCRIPT, database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    counts = [line.split() for line in run.stdout.splitlines() if line.startswith("FROZEN")]
    (before, first), (_, second) = ((int(a), int(b)) for _, a, b in counts)
    assert before == 0
    assert first > 50_000  # modules, routes, models, the pool: all frozen at the first start
    assert second <= first  # a second app froze nothing more (frozen objects may still die)
