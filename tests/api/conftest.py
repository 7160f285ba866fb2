"""A server shared by one module, for parametrized tests that each make their own rows."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from careslot.config import Settings
from tests.conftest import LiveServer, _admin, serve_in_thread, with_database

_modules = itertools.count()


@pytest.fixture(scope="module")
def module_live(admin_url: str, template_url: str) -> Iterator[LiveServer]:
    """careslot on its own fresh database for the whole module (tests must not share rows)."""
    template = urlsplit(template_url).path.lstrip("/")
    name = f"careslot_m_{os.getpid()}_{next(_modules)}"
    asyncio.run(_admin(admin_url, f"create database {name} template {template}"))
    url = with_database(admin_url, name)
    yield from serve_in_thread(Settings(database_url=url, redis_url=None))
    asyncio.run(_admin(admin_url, f"drop database if exists {name} with (force)"))
