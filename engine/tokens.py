"""Bearer tokens for the JSON API.

The token is shown once; only its SHA-256 is stored, so a copy of the
database does not hand out working credentials.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from engine.models import ApiToken, User

TOKEN_LIFETIME = timedelta(hours=12)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(session: Session, user: User, now: datetime, lifetime: timedelta = TOKEN_LIFETIME) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires = now + lifetime
    session.add(ApiToken(user_id=user.id, token_hash=_digest(token), created_at=now, expires_at=expires))
    return token, expires


def user_for(session: Session, token: str, now: datetime) -> User | None:
    """The active user a valid, unexpired token belongs to, or None.

    One statement, the user's roles and unit joined in: it runs before every API call.
    """
    if not token or len(token) > 200:
        return None
    return session.execute(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _digest(token), ApiToken.expires_at > now, User.active.is_(True))
        .options(joinedload(User.role_rows), joinedload(User.unit))
    ).unique().scalar_one_or_none()


def revoke_all(session: Session, user: User) -> None:
    for row in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)):
        session.delete(row)
