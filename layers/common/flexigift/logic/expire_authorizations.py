"""Scheduled every minute: release the holds of authorizations whose expires_at has passed (status
`expired`, a RELEASE entry per card), each in one conditional transaction with its own deterministic
Idempotency-Key (the payment id, operation `expire_authorization`), so two overlapping runs release once.

Open authorizations are found without a Scan: each is in the sparse index partition of the minute its holds
expire (store.keys.hold_expiry_partition, GSI1), sharded 8 ways. The sweep keeps its position (the first
minute it has not finished) in one item and reads every minute from there up to now, so a sweep that did not
run for a while catches up; a minute is read again until every authorization in it has been closed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flexigift.errors import Conflict
from flexigift.logic.close_authorization import Closing, close_authorization
from flexigift.logic.holds import release_all
from flexigift.models.checkout import PaymentStatus, SweepReport
from flexigift.observability import logger, metrics
from flexigift.store import authorizations, keys
from flexigift.store.wallet import now_iso

EXPIRE = Closing(operation="expire_authorization", status=PaymentStatus.EXPIRED, expiry="expired",
                 settle=lambda payment: release_all(payment["holds"]), metric="AuthorizationExpired")
SWEEP_KEY_ID = "expiry-sweep"          # who closed it, as the claim records
FIRST_LOOKBACK = timedelta(hours=1)    # a sweep that never ran starts here
MAX_MINUTES_PER_RUN = 240              # a long catch-up continues in the next run (240 x 8 Queries)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def expire_one(program_id: str, payment_id: str) -> bool:
    """Release one expired authorization; True if this call released it (False: already closed)."""
    try:
        _, replayed = close_authorization(program_id, payment_id, EXPIRE, payment_id, SWEEP_KEY_ID, {})
    except Conflict:  # captured or voided meanwhile (or not expired after all): nothing to release
        return False
    return not replayed


def sweep(now: datetime | None = None) -> SweepReport:
    now = now or datetime.now(timezone.utc)
    current = authorizations.minute_of(now)
    start = authorizations.sweep_position() or authorizations.minute_of(now - FIRST_LOOKBACK)
    minutes = authorizations.minutes_between(start, current)[:MAX_MINUTES_PER_RUN]
    report = SweepReport(minutes=len(minutes), expired=0, already_closed=0, failed=0, next_minute=start)
    unfinished: str | None = None
    for minute in minutes:
        for shard in range(keys.HOLD_SHARDS):
            page_start = None
            while True:
                found, page_start = authorizations.expiring(minute, shard, _iso(now), page_start)
                for item in found:
                    try:
                        if expire_one(item["program_id"], item["id"]):
                            report.expired += 1
                        else:
                            report.already_closed += 1
                    except Exception:  # noqa: BLE001 - one authorization must not stop the others
                        logger.exception("authorization could not be expired", extra={"payment_id": item["id"]})
                        report.failed += 1
                        unfinished = unfinished or minute
                if page_start is None:
                    break
    if minutes:
        # read the current minute again next time (more of its holds expire later in it), and any minute
        # that still has an authorization the sweep could not close; a truncated catch-up goes on from its end
        last = minutes[-1]
        following = authorizations.minute_of(
            datetime.strptime(last, "%Y-%m-%dT%H:%M").replace(tzinfo=timezone.utc) + timedelta(minutes=1))
        report.next_minute = unfinished or (current if last == current else following)
        authorizations.save_sweep_position(report.next_minute, now_iso())
    metrics.add_metric(name="AuthorizationsExpired", unit="Count", value=report.expired)
    logger.info("expiry sweep done", extra=report.model_dump())
    return report
