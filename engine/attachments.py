"""Scanned papers: checked by content, stored once under their SHA-256, outside the web root.

The extension a browser sends is not trusted: the first bytes decide
whether a file is a PDF, JPEG or PNG. Identical files are stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from engine.errors import InvalidInput, NotFound, Problem
from engine.models import Attachment, Dossier, User

SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)
MAX_NAME = 200


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes, or None if not accepted."""
    for magic, content_type, ext in SIGNATURES:
        if head.startswith(magic):
            return content_type, ext
    return None


def store_dir(instance_dir: Path) -> Path:
    return instance_dir / "files"


def path_for(instance_dir: Path, sha256: str) -> Path:
    return store_dir(instance_dir) / sha256[:2] / sha256


def save(
    session: Session, instance_dir: Path, dossier: Dossier, actor: User, *, data: bytes, file_name: str,
    limit: int, now, component: str = "", kind: str = "component",
) -> Attachment:
    """Check and store one upload; the row joins the caller's transaction."""
    if not data:
        raise InvalidInput("The file is empty", [Problem("Empty file", "file")])
    if len(data) > limit:
        raise InvalidInput(f"The file is {len(data)} bytes; the limit is {limit}",
                           [Problem("File too large", "file")])
    kind_of = sniff(data[:16])
    if kind_of is None:
        raise InvalidInput("Only PDF, JPEG and PNG files are accepted (checked by content, not by name)",
                           [Problem("Not a PDF, JPEG or PNG file", "file")])
    digest = hashlib.sha256(data).hexdigest()
    _write_once(path_for(instance_dir, digest), data)
    clean_name = clean_file_name(file_name or "")
    attachment = Attachment(
        dossier_id=dossier.id, sha256=digest, file_name=clean_name, content_type=kind_of[0], size=len(data),
        component=component[:300], kind=kind, uploaded_at=now, uploaded_by_id=actor.id,
    )
    session.add(attachment)
    return attachment


def clean_file_name(raw: str) -> str:
    """The base name without path, control characters or lone surrogates (PostgreSQL refuses NUL)."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c for c in base if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF).strip()
    return kept[:MAX_NAME] or "tep"


def _write_once(target: Path, data: bytes) -> None:
    """Write atomically: a crash never leaves a half file under a valid hash."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(instance_dir: Path, attachment: Attachment) -> bytes:
    path = path_for(instance_dir, attachment.sha256)
    if not path.exists():
        raise NotFound(f"The file of attachment {attachment.id} is missing from storage")
    return path.read_bytes()
