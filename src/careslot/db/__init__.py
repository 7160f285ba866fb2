"""Database access: pool, embedded server, migrations."""

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# What repository functions take: a bare connection or one borrowed from the pool.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
