"""The organisation directory: jurisdictions, units, users, and lane resolution.

The hierarchy is data: level names come from the organisation file, so the
three-tier model (province, district, commune) and the 2025 two-tier model
(province, commune) are both just files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import OrganisationError, Problem
from engine.extensions import LaneInfo
from engine.models import ROLES, Jurisdiction, Unit, User, UserRole
from engine.passwords import hash_password, verify_password

MAX_FILE_BYTES = 2_000_000
# YAML aliases let a small file name the same node many times (or inside itself):
# the walk refuses to revisit a node and stops counting past these limits.
MAX_JURISDICTIONS = 20_000
MAX_UNITS = 100_000
MAX_USERS = 100_000
# Column sizes (engine.models.organisation): SQLite would store longer text, PostgreSQL refuses it.
LIMITS = {"name": 200, "level": 40, "type": 40, "full_name": 200, "email": 200}
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
# libyaml's safe loader when available: same tag rules as yaml.SafeLoader, ten times faster.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class LoadReport:
    """What a load changed, for the CLI to print."""

    created: dict[str, int] = field(default_factory=lambda: {"jurisdictions": 0, "units": 0, "users": 0})
    updated: dict[str, int] = field(default_factory=lambda: {"jurisdictions": 0, "units": 0, "users": 0})

    def summary(self) -> str:
        parts = [
            f"{kind}: {self.created[kind]} created, {self.updated[kind]} updated" for kind in self.created
        ]
        return "; ".join(parts)


def read_organisation_file(path: str | Path) -> dict[str, Any]:
    """Parse an organisation YAML file safely (no Python tags, size-capped)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OrganisationError(f"Cannot read organisation file {path}: {exc.strerror}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise OrganisationError(f"Organisation file is {len(raw)} bytes; the limit is {MAX_FILE_BYTES}")
    try:
        document = yaml.load(raw, Loader=_SAFE_LOADER)  # a safe loader: no Python tags
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        # "problem" says what is wrong ("expected ',' or ']'"); the first line of str(exc) is
        # often only the context ("while parsing a flow sequence").
        problem, context = getattr(exc, "problem", None), getattr(exc, "context", None)
        message = f"{problem} ({context})" if problem and context else problem or str(exc).splitlines()[0]
        raise OrganisationError(
            "Organisation file is not valid YAML",
            [Problem(message, line=line + 1 if line is not None else None)],
        ) from exc
    if not isinstance(document, dict):
        raise OrganisationError("Organisation file must be a mapping with 'jurisdictions' and 'users'")
    return document


def load_organisation(session: Session, document: Mapping[str, Any]) -> LoadReport:
    """Create or update jurisdictions, units and users from a parsed document.

    Everything is checked before anything is written, so a file with one bad
    reference changes nothing. Rows missing from the file are kept: dossiers
    still point at them.
    """
    checked = _check_document(document)
    existing_users = {u.username: u for u in session.scalars(select(User))}
    _check_new_users(checked.users, existing_users)
    report = LoadReport()
    existing_j = {j.code: j for j in session.scalars(select(Jurisdiction))}
    existing_u = {u.code: u for u in session.scalars(select(Unit))}
    for node, parent_code in checked.jurisdictions:
        jur = _upsert_jurisdiction(session, existing_j, node, parent_code, report)
        for unit in node.get("units") or []:
            _upsert_unit(session, existing_u, unit, jur, report)
    session.flush()
    for entry in checked.users:
        _upsert_user(session, existing_users.get(entry["username"]), existing_u[entry["unit"]], entry, report)
    session.flush()
    return report


def _check_new_users(users: list[dict[str, Any]], existing: Mapping[str, User]) -> None:
    """A user not yet in the database needs a password; checked before anything is written."""
    problems = [
        Problem(f"New user {entry['username']} needs a password", element_id=entry["username"])
        for entry in users
        if entry["username"] not in existing and entry.get("password") is None
    ]
    if problems:
        raise OrganisationError("The organisation file has errors; nothing was changed", problems)


@dataclass
class _Checked:
    jurisdictions: list[tuple[dict[str, Any], str | None]]
    users: list[dict[str, Any]]


def _check_document(document: Mapping[str, Any]) -> _Checked:
    problems: list[Problem] = []
    nodes = _flatten(document.get("jurisdictions"), problems)
    seen_j: set[str] = set()
    unit_codes: set[str] = set()
    unit_count = 0
    for node, _parent in nodes:
        units = node.get("units")
        unit_count += len(units) if isinstance(units, list) else 0
        if unit_count > MAX_UNITS:
            problems.append(Problem(f"The file names too many units (more than {MAX_UNITS})"))
            raise OrganisationError("The organisation file has errors; nothing was changed", problems)
        _check_jurisdiction(node, seen_j, unit_codes, problems)
    users = document.get("users") or []
    if not isinstance(users, list):
        problems.append(Problem("'users' must be a list"))
        users = []
    if len(users) > MAX_USERS:
        problems.append(Problem(f"The file names too many users (more than {MAX_USERS})"))
        raise OrganisationError("The organisation file has errors; nothing was changed", problems)
    seen_users: set[str] = set()
    for index, entry in enumerate(users):
        _check_user(index, entry, unit_codes, seen_users, problems)
    if problems:
        raise OrganisationError("The organisation file has errors; nothing was changed", problems)
    return _Checked(nodes, users)


def _flatten(items: Any, problems: list[Problem]) -> list[tuple[dict[str, Any], str | None]]:
    """Jurisdictions in parent-first order, walked without recursion."""
    if not isinstance(items, list) or not items:
        problems.append(Problem("'jurisdictions' must be a non-empty list"))
        return []
    out: list[tuple[dict[str, Any], str | None]] = []
    visited: set[int] = set()
    stack: list[tuple[Any, str | None]] = [(item, None) for item in reversed(items)]
    while stack:
        node, parent = stack.pop()
        if not isinstance(node, dict):
            problems.append(
                Problem(f"A jurisdiction entry under {parent or 'the top level'} is not a mapping")
            )
            continue
        if id(node) in visited:  # a YAML alias naming a jurisdiction again, possibly inside itself
            code = str(node.get("code"))
            problems.append(Problem(f"Jurisdiction code {code} appears twice", element_id=code))
            continue
        visited.add(id(node))
        if len(out) >= MAX_JURISDICTIONS:
            problems.append(Problem(f"The file names too many jurisdictions (more than {MAX_JURISDICTIONS})"))
            return out
        out.append((node, parent))
        children = node.get("children") or []
        if not isinstance(children, list):
            problems.append(Problem("'children' must be a list", element_id=str(node.get("code"))))
            continue
        stack.extend((child, str(node.get("code"))) for child in reversed(children))
    return out


def _check_jurisdiction(
    node: dict[str, Any], seen: set[str], unit_codes: set[str], problems: list[Problem]
) -> None:
    code = node.get("code")
    if not isinstance(code, str) or not CODE_RE.match(code):
        problems.append(Problem(f"Jurisdiction code {code!r} is missing or invalid", element_id=str(code)))
    elif code in seen:
        problems.append(Problem(f"Jurisdiction code {code} appears twice", element_id=code))
    seen.add(str(code))
    for key in ("name", "level"):
        if not isinstance(node.get(key), str) or not node[key].strip():
            problems.append(Problem(f"Jurisdiction {code} has no {key}", element_id=str(code)))
        elif len(node[key]) > LIMITS[key]:
            problems.append(_too_long("Jurisdiction", code, key))
    units = node.get("units") or []
    if not isinstance(units, list):
        problems.append(Problem(f"Units of jurisdiction {code} must be a list", element_id=str(code)))
        return
    for unit in units:
        _check_unit(unit, code, unit_codes, problems)


def _check_unit(unit: Any, jur_code: Any, unit_codes: set[str], problems: list[Problem]) -> None:
    if not isinstance(unit, dict):
        problems.append(
            Problem(f"A unit of jurisdiction {jur_code} is not a mapping", element_id=str(jur_code))
        )
        return
    code = unit.get("code")
    if not isinstance(code, str) or not CODE_RE.match(code):
        problems.append(
            Problem(f"Unit code {code!r} in {jur_code} is missing or invalid", element_id=str(code))
        )
        return
    if code in unit_codes:
        problems.append(Problem(f"Unit code {code} appears twice", element_id=code))
    unit_codes.add(code)
    for key in ("type", "name"):
        if not isinstance(unit.get(key), str) or not unit[key].strip():
            problems.append(Problem(f"Unit {code} has no {key}", element_id=code))
        elif len(unit[key]) > LIMITS[key]:
            problems.append(_too_long("Unit", code, key))


def _too_long(kind: str, code: Any, key: str) -> Problem:
    return Problem(f"{kind} {code}: {key} is longer than {LIMITS[key]} characters", element_id=str(code))


def _check_user(
    index: int, entry: Any, unit_codes: set[str], seen: set[str], problems: list[Problem]
) -> None:
    if not isinstance(entry, dict):
        problems.append(Problem(f"User entry #{index + 1} is not a mapping"))
        return
    name = entry.get("username")
    if not isinstance(name, str) or not USERNAME_RE.match(name):
        problems.append(Problem(f"User entry #{index + 1} has a missing or invalid username {name!r}"))
        return
    if name in seen:
        problems.append(Problem(f"Username {name} appears twice", element_id=name))
    seen.add(name)
    if entry.get("unit") not in unit_codes:
        problems.append(Problem(f"User {name} refers to unknown unit {entry.get('unit')!r}", element_id=name))
    roles = entry.get("roles")
    if not isinstance(roles, list) or not roles or any(r not in ROLES for r in roles):
        problems.append(
            Problem(
                f"User {name} has roles {roles!r}; each must be one of {', '.join(ROLES)}", element_id=name
            )
        )
    if not isinstance(entry.get("full_name"), str) or not entry["full_name"].strip():
        problems.append(Problem(f"User {name} has no full_name", element_id=name))
    elif len(entry["full_name"]) > LIMITS["full_name"]:
        problems.append(_too_long("User", name, "full_name"))
    email = entry.get("email", "")
    if not isinstance(email, str):
        problems.append(Problem(f"User {name} has an email that is not text", element_id=name))
    elif len(email) > LIMITS["email"]:
        problems.append(_too_long("User", name, "email"))
    password = entry.get("password")
    if password is not None and (not isinstance(password, str) or len(password) < 8):
        problems.append(Problem(f"User {name} needs a password of at least 8 characters", element_id=name))


def _upsert_jurisdiction(
    session: Session,
    existing: dict[str, Jurisdiction],
    node: dict[str, Any],
    parent_code: str | None,
    report: LoadReport,
) -> Jurisdiction:
    parent = existing[parent_code] if parent_code else None
    jur = existing.get(node["code"])
    if jur is None:
        jur = Jurisdiction(code=node["code"], name=node["name"], level=node["level"], parent=parent)
        session.add(jur)
        existing[jur.code] = jur
        report.created["jurisdictions"] += 1
    elif (jur.name, jur.level, jur.parent) != (node["name"], node["level"], parent):
        jur.name, jur.level, jur.parent = node["name"], node["level"], parent
        report.updated["jurisdictions"] += 1
    return jur


def _upsert_unit(
    session: Session, existing: dict[str, Unit], entry: dict[str, Any], jur: Jurisdiction, report: LoadReport
) -> None:
    unit = existing.get(entry["code"])
    if unit is None:
        unit = Unit(code=entry["code"], type=entry["type"], name=entry["name"], jurisdiction=jur)
        session.add(unit)
        existing[unit.code] = unit
        report.created["units"] += 1
    elif (unit.type, unit.name, unit.jurisdiction) != (entry["type"], entry["name"], jur):
        unit.type, unit.name, unit.jurisdiction = entry["type"], entry["name"], jur
        report.updated["units"] += 1


def _upsert_user(
    session: Session, user: User | None, unit: Unit, entry: dict[str, Any], report: LoadReport
) -> None:
    password = entry.get("password")
    if user is None:
        if password is None:
            raise OrganisationError(f"New user {entry['username']} needs a password")
        user = User(
            username=entry["username"],
            password_hash=hash_password(password),
            full_name=entry["full_name"],
            email=entry.get("email", ""),
            unit=unit,
        )
        session.add(user)
        report.created["users"] += 1
    else:
        changed = (user.full_name, user.email, user.unit_id) != (
            entry["full_name"],
            entry.get("email", ""),
            unit.id,
        )
        user.full_name, user.email, user.unit = entry["full_name"], entry.get("email", ""), unit
        if password is not None and not verify_password(user.password_hash, password):
            user.password_hash = hash_password(password)
            changed = True
        if set(entry["roles"]) != set(user.roles):
            changed = True
        if changed:
            report.updated["users"] += 1
    _set_roles(user, entry["roles"])


def _set_roles(user: User, roles: Iterable[str]) -> None:
    wanted = set(roles)
    user.role_rows = [r for r in user.role_rows if r.role in wanted]
    have = {r.role for r in user.role_rows}
    user.role_rows.extend(UserRole(role=role) for role in sorted(wanted - have))


def ancestry(jurisdiction: Jurisdiction) -> list[Jurisdiction]:
    """The jurisdiction and its ancestors, nearest first."""
    chain = []
    node: Jurisdiction | None = jurisdiction
    while node is not None and len(chain) < 64:
        chain.append(node)
        node = node.parent
    return chain


def resolve_lane(
    session: Session, jurisdiction: Jurisdiction, lane: LaneInfo, data: Mapping[str, Any]
) -> Unit:
    """The one concrete unit that serves ``lane`` for a dossier of ``jurisdiction``.

    A lane names a unit type and a level: the unit of that type in the
    dossier's jurisdiction if it has that level, else in its nearest
    ancestor of that level. A ``fromData`` lane takes the unit whose code is
    in the dossier's data.
    """
    if lane.from_data:
        return _unit_from_data(session, lane, data)
    target = next((j for j in ancestry(jurisdiction) if j.level == lane.level), None)
    if target is None:
        raise OrganisationError(
            f"Lane '{lane.name}' needs a unit at level '{lane.level}', but jurisdiction "
            f"{jurisdiction.name} ({jurisdiction.level}) has no such level above it"
        )
    unit = session.scalar(
        select(Unit)
        .where(Unit.jurisdiction_id == target.id, Unit.type == lane.unit_type)
        .order_by(Unit.code)
        .limit(1)
    )
    if unit is None:
        raise OrganisationError(
            f"Lane '{lane.name}' needs a unit of type '{lane.unit_type}' in {target.name}, and there is none"
        )
    return unit


def _unit_from_data(session: Session, lane: LaneInfo, data: Mapping[str, Any]) -> Unit:
    code = data.get(lane.from_data or "")
    if not isinstance(code, str) or not code:
        raise OrganisationError(
            f"Lane '{lane.name}' takes its unit from data '{lane.from_data}', which is not set"
        )
    unit = session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        raise OrganisationError(
            f"Lane '{lane.name}': unit '{code}' given in '{lane.from_data}' does not exist"
        )
    return unit


def known_unit_types(session: Session) -> set[str]:
    return set(session.scalars(select(Unit.type).distinct()))


def known_levels(session: Session) -> set[str]:
    return set(session.scalars(select(Jurisdiction.level).distinct()))


def get_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def get_unit(session: Session, code: str) -> Unit | None:
    return session.scalar(select(Unit).where(Unit.code == code))


def get_jurisdiction(session: Session, code: str) -> Jurisdiction | None:
    return session.scalar(select(Jurisdiction).where(Jurisdiction.code == code))
