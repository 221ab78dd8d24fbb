"""Password hashing with Argon2id (argon2-cffi), the current OWASP recommendation."""

from __future__ import annotations

import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


def _hasher() -> PasswordHasher:
    """Argon2id with library defaults; ``MOTCUA_PASSWORD_HASH_COST=low`` is for test suites only."""
    if os.environ.get("MOTCUA_PASSWORD_HASH_COST") == "low":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


_HASHER = _hasher()
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)
