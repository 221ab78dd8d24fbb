"""Free text from users: one check for everything that is stored as text.

NUL characters and lone surrogates cannot be stored by PostgreSQL and mean
nothing to a person, so they are refused with a clear message instead of
failing deep inside the database driver.
"""

from __future__ import annotations

from engine.errors import FormError, Problem


def storable(text: str) -> bool:
    """Text every database can store and compare: no NUL, no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problem(value: object, label: str, max_length: int) -> str | None:
    """Why ``value`` is not acceptable text of at most ``max_length`` characters, or None."""
    if not isinstance(value, str):
        return f"{label} must be text"
    if len(value) > max_length:
        return f"{label} is longer than {max_length} characters"
    if not storable(value):
        return f"{label} contains characters that are not allowed"
    return None


def clean_text(value: object, field: str, label: str, max_length: int, *, required: bool = False) -> str:
    """``value`` stripped, or FormError naming ``field``; None counts as empty."""
    if value is None:
        value = ""
    problem = text_problem(value, label, max_length)
    if problem:
        raise FormError(problem, [Problem(problem, field)])
    text = value.strip()
    if required and not text:
        raise FormError(f"{label} is required", [Problem(f"{label} is required", field)])
    return text
