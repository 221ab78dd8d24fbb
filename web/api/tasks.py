"""The unit's open steps: list, claim, release, complete."""

from __future__ import annotations

from flask import request
from sqlalchemy.orm.attributes import set_committed_value

from engine import tasks
from engine.errors import InvalidInput, NotFound, Problem
from engine.models import Task, Unit, User
from web.api import bp
from web.api.auth import api_view
from web.api.serializers import check_text, dossier_ref, json_object, task_json
from web.auth import engine_ctx

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000_000
MAX_ID = 2**31 - 1  # the id columns are 32-bit on PostgreSQL
QUERY_KEYS = frozenset({"procedure", "q", "mine", "limit", "offset"})
WORKERS = ("clerk", "specialist", "leader")


def _int_param(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12 or not low <= int(raw) <= high:
        raise InvalidInput(f"'{name}' must be a whole number from {low} to {high}",
                           [Problem(f"A whole number from {low} to {high}", name)])
    return int(raw)


def _flag(name: str) -> bool:
    raw = request.args.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise InvalidInput(f"'{name}' must be 1 or 0", [Problem("1 or 0", name)])


def _checked_id(task_id: int) -> int:
    if task_id > MAX_ID:
        raise NotFound(f"Task {task_id} does not exist")
    return task_id


def _task(session, task_id: int):
    return tasks.get_task(session, _checked_id(task_id))


def _with_people(session, task: Task) -> Task:
    """The task as the engine wrote it, with its unit and people for the response.

    Claim and complete read the task themselves (by plain SQL) and hand back
    the row they wrote, outside the session; the unit is one lookup by key and
    the people are usually the acting user, already in the session.
    """
    for name, model, key in (("unit", Unit, task.unit_id), ("claimed_by", User, task.claimed_by_id),
                             ("completed_by", User, task.completed_by_id)):
        set_committed_value(task, name, session.get(model, key) if key is not None else None)
    return task


@bp.get("/tasks")
@api_view(roles=WORKERS)
def inbox(session, user):
    """Open steps of the user's unit, soonest due first."""
    unknown = sorted(set(request.args) - QUERY_KEYS)
    if unknown:
        raise InvalidInput("Unknown query parameters", [Problem(f"Unknown parameter '{k}'", k) for k in unknown])
    for key in ("procedure", "q"):
        check_text(request.args.get(key, ""), key)
    procedure = request.args.get("procedure", "").strip()[:40] or None
    search = request.args.get("q", "").strip()
    if len(search) > 200:
        raise InvalidInput("'q' is too long", [Problem("At most 200 characters", "q")])
    query = tasks.InboxQuery(
        unit_id=user.unit_id,
        procedure_code=procedure,
        search=search or None,
        mine_only_user_id=user.id if _flag("mine") else None,
        limit=_int_param("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int_param("offset", 0, 0, MAX_OFFSET),
    )
    items, total = tasks.inbox(session, query)
    return {"items": [task_json(session, t) for t in items], "total": total}


@bp.post("/tasks/<int:task_id>/claim")
@api_view(write=True)
def claim(session, user, task_id: int):
    """Take the step for oneself; of two simultaneous claims one wins, the other gets 409."""
    task = tasks.claim(engine_ctx(), session, _checked_id(task_id), user)
    return task_json(session, _with_people(session, task))


@bp.post("/tasks/<int:task_id>/release")
@api_view(write=True)
def release(session, user, task_id: int):
    """Give the step back to the unit's pool (its holder, or a leader of the unit)."""
    task = tasks.release(engine_ctx(), session, _task(session, task_id).id, user)
    session.flush()
    return task_json(session, task)


@bp.post("/tasks/<int:task_id>/complete")
@api_view(write=True)
def complete(session, user, task_id: int):
    """Finish the step with its form data and move the dossier on."""
    body = json_object(("data", "expected_version"), required=("data",))
    data = body["data"]
    if not isinstance(data, dict):
        raise InvalidInput("'data' must be an object", [Problem("Must be an object", "data")])
    expected = body.get("expected_version")
    if expected is not None and (type(expected) is not int or not 0 <= expected <= MAX_ID):
        raise InvalidInput("'expected_version' must be a whole number",
                           [Problem("A whole number", "expected_version")])
    task = tasks.complete(engine_ctx(), session, _checked_id(task_id), user, data, expected_version=expected)
    return {"task": task_json(session, _with_people(session, task)), "dossier": dossier_ref(task.dossier)}
