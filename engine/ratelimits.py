"""Fixed-window rate limits kept in the database, so every process shares them.

Used for the public lookup (per client address) and for login attempts.
The bucket row is created if missing, then locked (``FOR UPDATE`` on
PostgreSQL; SQLite write transactions are already exclusive) and counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.models import RateBucket


def hit(session: Session, key: str, *, limit: int, window: timedelta, now: datetime) -> bool:
    """Count one hit of ``key``; True while the window's hits stay within ``limit``."""
    key = key[:200]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(RateBucket).values(key=key, window_start=now, hits=0)
                    .on_conflict_do_nothing(index_elements=[RateBucket.key]))
    bucket = session.scalar(select(RateBucket).where(RateBucket.key == key).with_for_update())
    if bucket.window_start + window <= now:
        bucket.window_start, bucket.hits = now, 0
    bucket.hits += 1
    session.flush()
    return bucket.hits <= limit


def reset(session: Session, key: str) -> None:
    bucket = session.get(RateBucket, key[:200])
    if bucket is not None:
        session.delete(bucket)
