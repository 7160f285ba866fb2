"""Time off (one doctor) and closures (the whole hospital).

Over live appointments a new period is refused with 409 schedule_conflict and the
appointments' ids, unless the caller forces it: then those appointments are cancelled in the
same transaction (booking.cancellation, where the patients are told). A booking and a period
on the same doctor are serialised by advisory locks, so neither can miss the other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from careslot import access
from careslot.accounts.models import User
from careslot.audit.log import record_change
from careslot.booking import cancellation
from careslot.context import Context
from careslot.errors import InvalidPeriod, NotFound, ScheduleConflict
from careslot.events import Change
from careslot.messages import outbox
from careslot.scheduling import admin_repository as repo
from careslot.scheduling.schemas import (
    ClosureAdded,
    ClosureList,
    TimeOffAdded,
    TimeOffList,
)
from careslot.waitlist.repository import drop_holds_in

MAX_PERIOD = timedelta(days=366)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidPeriod("start and end need a UTC offset, e.g. 2026-01-05T09:00:00+00:00")
    if not (EARLIEST <= start and end <= LATEST):
        raise InvalidPeriod("periods lie between the years 2000 and 2100")
    if start >= end:
        raise InvalidPeriod("start must be before end")
    if end - start > MAX_PERIOD:
        raise InvalidPeriod("a period is at most a year; add another for longer")


async def _clear(
    ctx: Context,
    conn: Any,
    *,
    actor: User,
    doctor_id: int | None,
    start: datetime,
    end: datetime,
    force: bool,
) -> list[cancellation.Cancelled]:
    """Refuse (409) or, forced, cancel the live appointments the period would cover."""
    found = await repo.conflicts(conn, doctor_id, start, end, ctx.clock.now())
    if found and not force:
        raise ScheduleConflict(
            f"{len(found)} live appointment(s) fall in that period; send force=true to cancel them",
            conflicts=found,
        )
    return await cancellation.cancel_for_unavailability(
        ctx, conn, actor_id=actor.id, appointment_ids=found
    )


async def _announce(ctx: Context, change: Change, cancelled: list[cancellation.Cancelled]) -> None:
    await ctx.changes.publish(change)
    cancelled_change = cancellation.change_for(cancelled, ctx.zone)
    if cancelled_change is not None:
        await ctx.changes.publish(cancelled_change)


async def list_time_off(ctx: Context, *, actor: User, doctor_id: int) -> TimeOffList:
    """Current and future time off (what has not ended)."""
    access.require_schedule_reader(actor, doctor_id)
    async with ctx.pool.acquire() as conn:
        if await repo.doctor(conn, doctor_id) is None:
            raise NotFound("no such doctor")
        items = await repo.time_off(conn, doctor_id, since=ctx.clock.now())
    return TimeOffList(doctor_id=doctor_id, items=items)


async def add_time_off(
    ctx: Context,
    *,
    actor: User,
    doctor_id: int,
    start: datetime,
    end: datetime,
    reason: str = "",
    force: bool = False,
) -> TimeOffAdded:
    access.require_schedule_editor(actor)
    check_period(start, end)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repo.lock_doctor(conn, doctor_id)
        if await repo.doctor(conn, doctor_id) is None:
            raise NotFound("no such doctor")
        cancelled = await _clear(
            ctx, conn, actor=actor, doctor_id=doctor_id, start=start, end=end, force=force
        )
        await drop_holds_in(conn, doctor_id=doctor_id, start=start, end=end, now=ctx.clock.now())
        time_off_id = await repo.insert_time_off(conn, doctor_id, start, end, reason)
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="create:forced" if cancelled else "create",
            entity="time_off",
            entity_id=time_off_id,
            doctor_id=doctor_id,
        )
        await outbox.schedule_changed(conn, ctx, doctor_id=doctor_id, change="time_off")
    await _announce(ctx, Change("time_off", doctor_ids=(doctor_id,)), cancelled)
    return TimeOffAdded(
        id=time_off_id,
        doctor_id=doctor_id,
        start=start,
        end=end,
        reason=reason,
        cancelled=[c.appointment_id for c in cancelled],
    )


async def remove_time_off(ctx: Context, *, actor: User, doctor_id: int, time_off_id: int) -> None:
    access.require_schedule_editor(actor)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repo.lock_doctor(conn, doctor_id)
        if not await repo.delete_time_off(conn, doctor_id, time_off_id):
            raise NotFound("no such time off for this doctor")
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="delete",
            entity="time_off",
            entity_id=time_off_id,
            doctor_id=doctor_id,
        )
        await outbox.schedule_changed(conn, ctx, doctor_id=doctor_id, change="time_off")
    await ctx.changes.publish(Change("time_off", doctor_ids=(doctor_id,)))


async def list_closures(ctx: Context) -> ClosureList:
    """Current and future closures; anyone may read them."""
    async with ctx.pool.acquire() as conn:
        return ClosureList(items=await repo.closures(conn, since=ctx.clock.now()))


async def add_closure(
    ctx: Context,
    *,
    actor: User,
    start: datetime,
    end: datetime,
    reason: str,
    force: bool = False,
) -> ClosureAdded:
    access.require_admin(actor)
    check_period(start, end)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repo.lock_hospital(conn)
        cancelled = await _clear(
            ctx, conn, actor=actor, doctor_id=None, start=start, end=end, force=force
        )
        await drop_holds_in(conn, doctor_id=None, start=start, end=end, now=ctx.clock.now())
        closure_id = await repo.insert_closure(conn, start, end, reason)
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="create:forced" if cancelled else "create",
            entity="closure",
            entity_id=closure_id,
        )
        await outbox.schedule_changed(conn, ctx, doctor_id=None, change="closure")
    await _announce(ctx, Change("closure"), cancelled)
    return ClosureAdded(
        id=closure_id,
        start=start,
        end=end,
        reason=reason,
        cancelled=[c.appointment_id for c in cancelled],
    )


async def remove_closure(ctx: Context, *, actor: User, closure_id: int) -> None:
    access.require_admin(actor)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await repo.lock_hospital(conn)
        if not await repo.delete_closure(conn, closure_id):
            raise NotFound("no such closure")
        await record_change(
            conn,
            actor_id=actor.id,
            subject_id=None,
            action="delete",
            entity="closure",
            entity_id=closure_id,
        )
        await outbox.schedule_changed(conn, ctx, doctor_id=None, change="closure")
    await ctx.changes.publish(Change("closure"))
