"""The ``motcua`` command: set-up, deployment and day-to-day work from a terminal.

Another client of the engine beside the web app: every command opens one
transaction, calls engine operations and prints the result; engine errors
become a message on stderr and a non-zero exit code.
"""

from __future__ import annotations

import functools
import json
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy.exc import SQLAlchemyError

from engine.context import Context, make_context
from engine.errors import MotcuaError
from engine.settings import WORKFLOWS_DIR

EXIT_ERROR = 1


def _fail(exc: MotcuaError) -> None:
    click.secho(f"Lỗi / Error: {exc.message}", fg="red", err=True)
    for problem in getattr(exc, "problems", []):
        click.echo(f"  - {problem}", err=True)
    sys.exit(EXIT_ERROR)


def _fail_database(exc: SQLAlchemyError) -> None:
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    click.secho(f"Lỗi / Error: the database cannot be used: {reason}", fg="red", err=True)
    click.echo("  - check MOTCUA_DATABASE_URL, and run 'motcua init-db' to create or upgrade the schema", err=True)
    sys.exit(EXIT_ERROR)


def engine_command(func):
    """Give the command a context and turn engine errors into exit codes."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            ctx = make_context()
        except MotcuaError as exc:  # e.g. MOTCUA_CONFIG names a missing or broken file
            _fail(exc)
        try:
            return func(ctx, *args, **kwargs)
        except MotcuaError as exc:
            _fail(exc)
        except SQLAlchemyError as exc:
            _fail_database(exc)
        finally:
            ctx.db.dispose()

    return wrapper


def _actor(session, username: str):
    from engine.directory import get_user

    user = get_user(session, username)
    if user is None:
        raise click.BadParameter(f"user {username} does not exist", param_hint="--as")
    return user


TEXT_TYPES = frozenset({"string", "text", "enum", "date"})


def _key_values(pairs: tuple[str, ...], text_keys: frozenset[str] = frozenset()) -> dict[str, object]:
    """KEY=VALUE pairs; values are read as JSON (true, 3, 2.5) except for ``text_keys``, kept as typed."""
    data: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"'{pair}' is not KEY=VALUE", param_hint="--data")
        if key in text_keys:
            data[key] = value
            continue
        try:
            data[key] = json.loads(value)
        except json.JSONDecodeError:
            data[key] = value
    return data


def _step_values(ctx: Context, session, task_id: int, pairs: tuple[str, ...]) -> dict[str, object]:
    """Form data for a step: a text field keeps "123" as text instead of turning it into a number."""
    from engine.deployment import compiled_version
    from engine.tasks import get_task

    _key_values(pairs)  # report a malformed pair before anything else
    task = get_task(session, task_id)
    step = compiled_version(ctx, task.dossier.procedure_version).steps.get(task.step)
    text_keys = frozenset(f.key for f in step.fields if f.type in TEXT_TYPES) if step else frozenset()
    return _key_values(pairs, text_keys)


def _local(moment: datetime | None, tz: str = "Asia/Ho_Chi_Minh") -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%H:%M %d/%m/%Y") if moment else "-"


@click.group()
def main() -> None:
    """motcua: administrative-procedure workflow engine for one-stop-shop counters."""


@main.command("init-db")
@engine_command
def init_db(ctx: Context) -> None:
    """Create or upgrade the database schema (Alembic)."""
    from engine import schema

    schema.upgrade(ctx.db)
    click.echo(f"Database ready at revision {schema.current_revision(ctx.db)}")


@main.group()
def db() -> None:
    """Schema migrations."""


@db.command("upgrade")
@engine_command
def db_upgrade(ctx: Context) -> None:
    """Apply pending migrations."""
    from engine import schema

    schema.upgrade(ctx.db)
    click.echo(f"Database at revision {schema.current_revision(ctx.db)}")


@db.command("current")
@engine_command
def db_current(ctx: Context) -> None:
    """Show the schema revision."""
    from engine import schema

    click.echo(f"current: {schema.current_revision(ctx.db)}  head: {schema.head_revision(ctx.db)}")


@main.command("load-org")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@engine_command
def load_org(ctx: Context, file: Path) -> None:
    """Create or update jurisdictions, units and users from a YAML file."""
    from engine.directory import load_organisation, read_organisation_file

    document = read_organisation_file(file)
    with ctx.db.transaction() as session:
        report = load_organisation(session, document)
    click.echo(report.summary())


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--effective-from", help="dd/mm/yyyy; default: now")
@engine_command
def deploy(ctx: Context, files: tuple[Path, ...], effective_from: str | None) -> None:
    """Validate and deploy BPMN procedures as new versions."""
    from engine.deployment import deploy as deploy_one

    when = _parse_day(effective_from) if effective_from else None
    with ctx.db.transaction() as session:
        for path in files:
            version, new = deploy_one(ctx, session, path.read_bytes(), file_name=path.name, effective_from=when)
            state = "deployed as version" if new else "unchanged, still version"
            click.echo(f"{path.name}: {version.procedure.code} {state} {version.version}")


def _parse_day(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%d/%m/%Y")
    except ValueError as exc:
        raise click.BadParameter("use dd/mm/yyyy", param_hint="--effective-from") from exc
    return day.replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check BPMN files without deploying them; exit 1 if any is not executable."""
    from engine.validation import validate_bpmn

    failed = False
    for path in files:
        verdict = validate_bpmn(path.read_bytes(), file_name=path.name)
        if verdict.executable:
            click.echo(f"{path.name}: executable ({verdict.process_id})")
        else:
            failed = True
            click.echo(f"{path.name}: NOT executable")
            for problem in verdict.problems:
                click.echo(f"  - {problem}")
    sys.exit(EXIT_ERROR if failed else 0)


@main.command()
@click.option("--procedures/--no-procedures", default=True, help="Also deploy workflows/procedures/*.bpmn")
@click.option("--dossiers", default=90, show_default=True, help="How many demo dossiers to create")
@engine_command
def demo(ctx: Context, procedures: bool, dossiers: int) -> None:
    """Create the schema, load the demo organisation and procedures, and add demo dossiers."""
    from engine import demo as demo_data
    from engine import schema

    schema.upgrade(ctx.db)
    summary = demo_data.build(ctx, WORKFLOWS_DIR, dossiers=dossiers if procedures else 0)
    click.echo(summary)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--debug", is_flag=True)
@click.option("--production", is_flag=True,
              help="gunicorn with several processes, schema migrated at start (see docs/deployment.md)")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="--production: processes (default 2 per core; 1 on SQLite)")
@click.option("--threads", type=click.IntRange(min=1), default=4, show_default=True,
              help="--production: threads per process")
@click.option("--no-migrate", is_flag=True, help="--production: do not upgrade the schema at start")
def serve(host: str, port: int, debug: bool, production: bool, workers: int | None, threads: int,
          no_migrate: bool) -> None:
    """Serve the web application (development server, or gunicorn with --production)."""
    if production:
        from web.production import ServeOptions
        from web.production import serve as serve_production

        try:
            serve_production(ServeOptions(host=host, port=port, workers=workers, threads=threads,
                                          migrate=not no_migrate))
        except MotcuaError as exc:
            _fail(exc)
        except SQLAlchemyError as exc:
            _fail_database(exc)
        return
    from web import create_app

    create_app().run(host=host, port=port, debug=debug)


@main.command()
@click.option("--as", "username", required=True, help="The clerk receiving the dossier")
@click.option("--procedure", "procedure_code", required=True)
@click.option("--name", required=True, help="Applicant's full name")
@click.option("--id-number", default="")
@click.option("--phone", default="")
@click.option("--address", default="")
@click.option("--email", default="")
@click.option("--jurisdiction", default=None, help="Jurisdiction code (default: the counter's)")
@click.option("--data", "pairs", multiple=True, help="KEY=VALUE initial data (JSON values allowed)")
@engine_command
def receive(ctx: Context, username: str, procedure_code: str, name: str, id_number: str, phone: str,
            address: str, email: str, jurisdiction: str | None, pairs: tuple[str, ...]) -> None:
    """Receive a dossier at a counter and print its code and due date."""
    from engine.receipt import receive as receive_dossier

    with ctx.db.transaction() as session:
        dossier = receive_dossier(
            ctx, session, actor=_actor(session, username), procedure_code=procedure_code,
            applicant={"name": name, "id_number": id_number, "phone": phone, "address": address, "email": email},
            jurisdiction_code=jurisdiction, data=_key_values(pairs),
        )
        click.echo(f"{dossier.code}  received {_local(dossier.received_at)}  due {_local(dossier.due_at)}")


@main.command()
@click.option("--as", "username", required=True, help="List the open tasks of this user's unit")
@click.option("--procedure", "procedure_code", default=None)
@engine_command
def tasks(ctx: Context, username: str, procedure_code: str | None) -> None:
    """List the open tasks of a unit, soonest due first."""
    from engine.tasks import InboxQuery, inbox

    with ctx.db.reading() as session:
        user = _actor(session, username)
        rows, total = inbox(session, InboxQuery(unit_id=user.unit_id, procedure_code=procedure_code, limit=200))
        click.echo(f"{total} open task(s) for {user.unit.name}")
        for task in rows:
            holder = task.claimed_by.username if task.claimed_by else "-"
            click.echo(f"#{task.id:<6} {task.dossier.code:<28} {task.step_name:<40} due {_local(task.due_at)}  "
                       f"[{holder}]")


@main.command()
@click.argument("task_id", type=int)
@click.option("--as", "username", required=True)
@engine_command
def claim(ctx: Context, task_id: int, username: str) -> None:
    """Take a task."""
    from engine.tasks import claim as claim_task

    with ctx.db.transaction() as session:
        task = claim_task(ctx, session, task_id, _actor(session, username))
        click.echo(f"#{task.id} {task.step_name} taken by {username}")


@main.command()
@click.argument("task_id", type=int)
@click.option("--as", "username", required=True)
@click.option("--data", "pairs", multiple=True, help="KEY=VALUE form data (JSON values allowed)")
@engine_command
def complete(ctx: Context, task_id: int, username: str, pairs: tuple[str, ...]) -> None:
    """Complete a task with its form data."""
    from engine.tasks import complete as complete_task
    from engine.tasks import open_tasks

    with ctx.db.transaction() as session:
        actor = _actor(session, username)
        task = complete_task(ctx, session, task_id, actor, _step_values(ctx, session, task_id, pairs))
        dossier = task.dossier
        nxt = ", ".join(f"#{t.id} {t.step_name} ({t.unit.name})" for t in open_tasks(session, dossier))
        click.echo(f"#{task.id} done. {dossier.code}: {dossier.status}. Next: {nxt or '-'}")


@main.command()
@click.argument("code")
@engine_command
def show(ctx: Context, code: str) -> None:
    """Show a dossier: status, dates, open steps, tracking slip."""
    from engine.handoffs import all_stints
    from engine.lifecycle import get_dossier
    from engine.tasks import open_tasks

    with ctx.db.reading() as session:
        dossier = get_dossier(session, code)
        version = dossier.procedure_version
        click.echo(f"{dossier.code}  {version.name} (v{version.version})")
        click.echo(f"  applicant: {dossier.applicant_name}   status: {dossier.status}")
        click.echo(f"  received {_local(dossier.received_at)}   due {_local(dossier.due_at)}")
        for task in open_tasks(session, dossier):
            click.echo(f"  open: #{task.id} {task.step_name} at {task.unit.name}, due {_local(task.due_at)}")
        for stint in all_stints(session, dossier):
            click.echo(f"  {stint.seq}. {stint.from_unit.name if stint.from_unit else '-'} -> {stint.to_unit.name}"
                       f"  given {_local(stint.handed_at)}  done {_local(stint.finished_at)}  {stint.timing or ''}")


@main.group()
def calendar() -> None:
    """Extra days off and make-up working days on top of the statutory holidays."""


def _parse_date(text: str):
    try:
        return datetime.strptime(text, "%d/%m/%Y").date()
    except ValueError as exc:
        raise click.BadParameter("use dd/mm/yyyy") from exc


@calendar.command("list")
@click.option("--year", type=int, default=None)
@engine_command
def calendar_list(ctx: Context, year: int | None) -> None:
    """Show the working calendar's edits and the statutory holidays of a year."""
    from engine.calendar_days import list_days

    with ctx.db.reading() as session:
        cal = ctx.calendar(session)
        for row in list_days(session, year):
            label = "nghỉ / day off" if row.kind == "off" else "làm bù / working day"
            click.echo(f"{row.day:%d/%m/%Y}  {label}  {row.note}")
        if year:
            from datetime import date, timedelta

            day = date(year, 1, 1)
            while day.year == year:
                name = cal.holiday_name(day)
                if name and day.weekday() < 5:
                    click.echo(f"{day:%d/%m/%Y}  {name}")
                day += timedelta(days=1)


@calendar.command("off")
@click.argument("day")
@click.option("--note", default="")
@engine_command
def calendar_off(ctx: Context, day: str, note: str) -> None:
    """Add an extra day off (dd/mm/yyyy)."""
    from engine.calendar_days import set_day

    with ctx.db.transaction() as session:
        set_day(ctx, session, _parse_date(day), "off", note)
    click.echo(f"{day}: day off")


@calendar.command("work")
@click.argument("day")
@click.option("--note", default="")
@engine_command
def calendar_work(ctx: Context, day: str, note: str) -> None:
    """Add a make-up working day (dd/mm/yyyy), e.g. a Saturday."""
    from engine.calendar_days import set_day

    with ctx.db.transaction() as session:
        set_day(ctx, session, _parse_date(day), "work", note)
    click.echo(f"{day}: working day")


@calendar.command("remove")
@click.argument("day")
@engine_command
def calendar_remove(ctx: Context, day: str) -> None:
    """Remove an edit (dd/mm/yyyy)."""
    from engine.calendar_days import remove_day

    with ctx.db.transaction() as session:
        remove_day(ctx, session, _parse_date(day))
    click.echo(f"{day}: edit removed")


@main.command()
@click.argument("codes", nargs=-1)
@engine_command
def check(ctx: Context, codes: tuple[str, ...]) -> None:
    """Check that every dossier's tasks, handoffs, state and events agree; exit 1 on any inconsistency."""
    from engine import consistency

    with ctx.db.reading() as session:
        checked, problems = 0, []
        for dossier in consistency.dossiers(session, codes or None):
            checked += 1
            problems += consistency.check_dossier(ctx, session, dossier)
    for problem in problems:
        click.echo(str(problem))
    click.echo(f"{checked} dossier(s) checked, {len(problems)} inconsistenc{'y' if len(problems) == 1 else 'ies'}")
    if problems:
        sys.exit(EXIT_ERROR)


@main.command()
@click.option("--once", is_flag=True, help="Run one round (plan, fire what is due, send mail) and exit; for tests and cron")
@click.option("--interval", type=float, default=None,
              help="Seconds between rounds (default: MOTCUA_WORKER_POLL_SECONDS or 60)")
@engine_command
def worker(ctx: Context, once: bool, interval: float | None) -> None:
    """Fire timers, reminders, escalations and digests, and send notification mail."""
    import logging
    import signal

    from engine.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    runner = Worker(ctx)
    if once:
        result = runner.run_once()
        click.echo(f"planned {result.planned}, done {result.done}, failed {result.failed}, mailed {result.mailed}")
        if result.failed:
            sys.exit(EXIT_ERROR)
        return
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    click.echo(f"motcua worker running (every {interval or ctx.settings.worker.poll_seconds:g} s); Ctrl+C to stop")
    try:
        runner.run_forever(interval)
    except KeyboardInterrupt:
        runner.stop()
