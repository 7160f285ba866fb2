"""Which errors mean "the database connection is gone or broken" (a 503, not a bug).

A connection that raised one of these is in an unknown protocol state (asyncpg's
InternalClientError "cannot switch to state 12; another operation is in progress" after a
restart, a half-read reply after a reset), so it is terminated instead of being returned to
the pool: the next request gets a fresh connection rather than the broken one.
"""

from __future__ import annotations

import asyncpg

# Connection-level failures: the connection is unusable afterwards.
BROKEN_CONNECTION: tuple[type[Exception], ...] = (
    OSError,  # refused, reset, broken pipe
    asyncpg.InterfaceError,  # includes "connection is closed"
    asyncpg.InternalClientError,  # protocol state corrupted by a lost connection
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError, …
    asyncpg.CannotConnectNowError,  # starting up / shutting down
    asyncpg.AdminShutdownError,  # pg_terminate_backend, pg_ctl stop -m fast
    asyncpg.CrashShutdownError,  # another backend crashed
)

# Everything answered 503 + Retry-After: the broken connections, plus a server that is only
# slow or full (the connection itself is still fine, so it goes back to the pool).
UNAVAILABLE: tuple[type[Exception], ...] = (
    *BROKEN_CONNECTION,
    TimeoutError,  # pool acquire timeout, command timeout
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,  # statement timeout
    asyncpg.OperatorInterventionError,
)

# For background loops that log and carry on: any of the above, or any server error.
DATABASE_ERRORS: tuple[type[Exception], ...] = (*UNAVAILABLE, asyncpg.PostgresError)


def is_broken_connection(exc: BaseException | None) -> bool:
    return isinstance(exc, BROKEN_CONNECTION)
