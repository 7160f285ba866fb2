"""A server shared by one module, for parametrized tests that each make their own rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import CloneDatabase, LiveServer, serving, settings_for


@pytest.fixture(scope="module")
def module_live(clone_database: CloneDatabase) -> Iterator[LiveServer]:
    """careslot on its own fresh database for the whole module (tests must not share rows)."""
    with clone_database("m") as url, serving(settings_for(url)) as server:
        yield server
