"""A large, realistic data set for timing reports and inboxes on PostgreSQL.

    .venv/bin/python -m benchmarks.dataset --url postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports \\
        --dossiers 1000000

The schema is built by the real migrations and the demo organisation and
procedures are loaded by the engine; the dossiers and their rows (tasks,
handoffs, pauses, events) are then written by ``INSERT ... SELECT`` over
``generate_series`` in chunks, so a million dossiers take minutes, not
hours. The database is created when missing; an existing one must be empty
of dossiers unless ``--append`` is given.

The mix: receipts spread over the two years before ``--now`` (default:
today) with more recent months busier; every counter of the demo
organisation; the four shipped dossier procedures plus about 1% citizen
feedback (PAKN-01); channels 60% counter / 35% online / 5% post. Recent
dossiers are mostly open, older ones mostly done, so about 10% of all are
open (processing or waiting for a supplement), each open one with an open
task in a processing unit (the inbox load); finished ones are early, on time
or late from their own dates, 20% had a supplement request (5% two), 3%
were extended, 5% refused, 4% withdrawn, 70% of returned ones rated.
Numbers come from PostgreSQL's ``random()`` after ``setseed``, so a run is
repeatable.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text

from engine import rollup, schema, scratch_databases
from engine.clock import FixedClock
from engine.context import Context
from engine.database import Database
from engine.deployment import deploy_files
from engine.directory import load_organisation, read_organisation_file
from engine.models import Procedure, ProcedureVersion, Unit
from engine.settings import WORKFLOWS_DIR, Settings

CHUNK = 50_000
PROCESSING_TYPES = ("qldt", "tckh", "tnmt", "vpdk", "thue", "tu_phap", "dia_chinh")


def prepare(url: str, now: datetime) -> Context:
    """Schema, organisation and procedures, through the engine."""
    ctx = Context(db=Database(url), settings=Settings(database_url=url, instance_dir=Path("/tmp")),
                  clock=FixedClock(datetime(2024, 1, 1, tzinfo=UTC)))
    schema.upgrade(ctx.db)
    with ctx.db.transaction() as session:
        load_organisation(session, read_organisation_file(WORKFLOWS_DIR / "organisation.yaml"))
    with ctx.db.transaction() as session:
        if not session.scalar(select(ProcedureVersion.id).limit(1)):
            deploy_files(ctx, session, sorted((WORKFLOWS_DIR / "procedures").glob("*.bpmn")))
    return ctx


def _array(values) -> str:
    return "ARRAY[" + ",".join(str(int(v)) for v in values) + "]"


def _text_array(values) -> str:
    return "ARRAY[" + ",".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]::text[]"


def parameters(ctx: Context) -> dict[str, str]:
    with ctx.db.reading() as session:
        counters = session.execute(select(Unit.id, Unit.code, Unit.jurisdiction_id).where(Unit.type == "mot_cua")
                                   .order_by(Unit.id)).all()
        workers = session.scalars(select(Unit.id).where(Unit.type.in_(PROCESSING_TYPES)).order_by(Unit.id)).all()
        leaders = session.execute(select(Unit.id, Unit.code, Unit.jurisdiction_id).where(Unit.type == "lanh_dao")
                                  .order_by(Unit.id)).all()
        versions = session.execute(select(ProcedureVersion.id, ProcedureVersion.time_limit_days, Procedure.code)
                                   .join(Procedure).order_by(ProcedureVersion.id)).all()
    plain = [v for v in versions if v.code != "PAKN-01"]
    pakn = next(v for v in versions if v.code == "PAKN-01")
    return {
        "c_ids": _array(c.id for c in counters), "c_codes": _text_array(c.code for c in counters),
        "c_jur": _array(c.jurisdiction_id for c in counters), "nc": str(len(counters)),
        "l_ids": _array(u.id for u in leaders), "l_codes": _text_array(u.code for u in leaders),
        "l_jur": _array(u.jurisdiction_id for u in leaders), "nl": str(len(leaders)),
        "w_ids": _array(workers), "nw": str(len(workers)),
        "p_ids": _array(v.id for v in plain), "p_days": _array(max(1, round(v.time_limit_days)) for v in plain),
        "np": str(len(plain)), "pakn_id": str(pakn.id),
    }


DOSSIERS = """
WITH s AS (
  SELECT g,
         random() AS r_unit, random() AS r_proc, random() AS r_status, random() AS r_speed, random() AS r_supp,
         random() AS r_chan, random() AS r_rate, random() AS r_ext, random() AS r_fb,
         -- age in days, recent months busier: sqrt skews towards 0
         (730 * (1 - sqrt(random()))) AS age
  FROM generate_series(:lo, :hi) AS g
), p AS (
  SELECT s.*,
         (s.r_fb < 0.01) AS fb,
         1 + floor(s.r_unit * {nc})::int AS ci,
         1 + floor(s.r_unit * {nl})::int AS li,
         1 + floor(s.r_proc * {np})::int AS pi,
         date_trunc('minute', :now - make_interval(secs => s.age * 86400)) AS rec
  FROM s
), q AS (
  SELECT p.*,
         CASE WHEN p.fb THEN 15 ELSE ({p_days})[p.pi] END AS limit_days,
         CASE WHEN p.age < 30 THEN p.r_status < 0.6 ELSE p.r_status < 0.075 END AS open
  FROM p
), r AS (
  SELECT q.*,
         q.rec + make_interval(days => ceil(q.limit_days * 1.4)::int) AS due,
         q.rec + make_interval(secs => q.limit_days * 1.4 * 86400 * (0.3 + 0.95 * q.r_speed)) AS fin,
         CASE WHEN q.r_supp < 0.05 THEN 2 WHEN q.r_supp < 0.20 THEN 1 ELSE 0 END AS supp
  FROM q
)
INSERT INTO dossier (id, code, procedure_version_id, jurisdiction_id, receiving_unit_id, received_by_id, channel,
  applicant_name, applicant_id_number, applicant_phone, applicant_address, applicant_email, status, received_at,
  counting_from, due_at, original_due_at, paused_since, paused_minutes, supplement_requests, finished_at,
  result_timing, closed_at, rating, data, lane_units, version)
SELECT g,
  CASE WHEN fb THEN 'PAKN-' || ({l_codes})[li] ELSE ({c_codes})[ci] END || '-' || to_char(rec, 'YYMMDD') || '-' || g,
  CASE WHEN fb THEN {pakn_id} ELSE ({p_ids})[pi] END,
  CASE WHEN fb THEN ({l_jur})[li] ELSE ({c_jur})[ci] END,
  CASE WHEN fb THEN ({l_ids})[li] ELSE ({c_ids})[ci] END,
  NULL,
  CASE WHEN fb OR r_chan < 0.35 THEN 'online' WHEN r_chan < 0.40 THEN 'post' ELSE 'counter' END,
  'Nguyễn Văn ' || g, lpad((g % 1000000000000)::text, 12, '0'), '09' || lpad((g % 100000000)::text, 8, '0'),
  'Hà Nội', '',
  CASE WHEN open THEN (CASE WHEN supp > 0 AND r_rate < 0.3 THEN 'awaiting_supplement' ELSE 'processing' END)
       WHEN r_status > 0.96 THEN 'refused' WHEN r_status > 0.92 THEN 'withdrawn'
       WHEN r_status > 0.88 THEN 'awaiting_return' ELSE 'returned' END,
  rec, rec, due,
  CASE WHEN r_ext < 0.03 THEN due - interval '5 days' END,
  CASE WHEN open AND supp > 0 AND r_rate < 0.3 THEN rec + interval '1 day' END,
  CASE WHEN supp > 0 AND NOT open THEN 480 * supp ELSE 0 END,
  supp,
  CASE WHEN NOT open AND r_status <= 0.92 AND fin < :now THEN fin END,
  CASE WHEN NOT open AND r_status <= 0.92 AND fin < :now THEN
       CASE WHEN fin > due THEN 'late' WHEN fin::date < due::date THEN 'early' ELSE 'on_time' END END,
  CASE WHEN NOT open AND (r_status > 0.92 OR r_status <= 0.88) THEN LEAST(fin + interval '1 day', :now) END,
  CASE WHEN NOT open AND r_status <= 0.88 AND r_rate < 0.7 THEN 1 + floor(r_rate / 0.7 * 5)::int END,
  '{{}}', '{{}}', 1
FROM r
"""

# Dossiers whose generated finish lies in the future are still open: make them processing.
FIX_OPEN = """
UPDATE dossier SET status = 'processing', closed_at = NULL, rating = NULL
WHERE id BETWEEN :lo AND :hi AND finished_at IS NULL AND status IN ('returned', 'awaiting_return')
"""

TASKS = """
INSERT INTO task (dossier_id, spiff_id, step, step_name, lane, unit_id, state, clock_paused, created_at, due_at,
  claimed_by_id, claimed_at, completed_at, completed_by_id, working_minutes)
SELECT d.id, md5(d.id::text), 'Task_ThamDinh', 'Thẩm định hồ sơ', 'Lane_XuLy',
  CASE WHEN d.procedure_version_id = {pakn_id} THEN d.receiving_unit_id ELSE ({w_ids})[1 + (d.id::bigint * 7919) % {nw}] END,
  CASE WHEN d.status IN ('processing', 'awaiting_supplement') THEN 'open'
       WHEN d.status IN ('refused', 'withdrawn') THEN 'cancelled' ELSE 'done' END,
  false, d.counting_from, d.due_at - interval '1 day', NULL, NULL,
  CASE WHEN d.status NOT IN ('processing', 'awaiting_supplement') THEN COALESCE(d.finished_at, d.closed_at) END,
  NULL, CASE WHEN d.finished_at IS NOT NULL THEN 960 END
FROM dossier d WHERE d.id BETWEEN :lo AND :hi
"""

HANDOFFS = """
INSERT INTO handoff (dossier_id, seq, from_unit_id, to_unit_id, handed_at, handed_by_id, received_at, received_by_id,
  due_at, finished_at, timing, note)
SELECT t.dossier_id, 1, d.receiving_unit_id, t.unit_id, d.counting_from, NULL::int,
  d.counting_from + interval '1 hour', NULL::int, t.due_at, t.completed_at,
  CASE WHEN t.completed_at IS NULL THEN NULL WHEN t.completed_at > t.due_at THEN 'late' ELSE 'on_time' END, ''
FROM task t JOIN dossier d ON d.id = t.dossier_id WHERE t.dossier_id BETWEEN :lo AND :hi
UNION ALL
SELECT d.id, 2, NULL::int, d.receiving_unit_id, d.finished_at, NULL, d.closed_at, NULL, d.due_at,
  CASE WHEN d.status = 'returned' THEN d.closed_at END,
  CASE WHEN d.status = 'returned' THEN d.result_timing END, 'result'
FROM dossier d WHERE d.id BETWEEN :lo AND :hi AND d.finished_at IS NOT NULL
"""

PAUSES = """
INSERT INTO pause (dossier_id, kind, started_at, ended_at, working_minutes, reason, missing, requested_by_id, task_id)
SELECT d.id, 'supplement', d.received_at + interval '1 day',
  CASE WHEN d.paused_since IS NULL THEN d.received_at + interval '2 days' END,
  CASE WHEN d.paused_since IS NULL THEN 480 END, 'Thiếu giấy tờ', '["Bản sao giấy tờ"]', NULL, NULL
FROM dossier d WHERE d.id BETWEEN :lo AND :hi AND d.supplement_requests > 0
"""

EVENTS = """
INSERT INTO event (dossier_id, at, actor_id, action, from_status, to_status, task_id, detail)
SELECT d.id, d.received_at, NULL::int, 'received', NULL, 'processing', NULL::int, '{{}}'::jsonb FROM dossier d
WHERE d.id BETWEEN :lo AND :hi
UNION ALL
SELECT d.id, d.closed_at, NULL,
  CASE d.status WHEN 'returned' THEN 'returned' WHEN 'refused' THEN 'refused' ELSE 'withdrawn' END,
  'processing', d.status, NULL::int, '{{}}'::jsonb
FROM dossier d WHERE d.id BETWEEN :lo AND :hi AND d.closed_at IS NOT NULL
"""


def generate(url: str, dossiers: int, now: datetime, *, append: bool = False, chunk: int = CHUNK) -> None:
    scratch_databases.create_if_missing(url)
    ctx = prepare(url, now)
    params = parameters(ctx)
    with ctx.db.engine.begin() as conn:
        start = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM dossier")).scalar())
        if start and not append:
            raise SystemExit(f"{url} already holds dossiers; use --append or an empty database")
    statements = [text(sql.format(**params)) for sql in (DOSSIERS, FIX_OPEN, TASKS, HANDOFFS, PAUSES, EVENTS)]
    began = time.perf_counter()
    for lo in range(start + 1, start + dossiers + 1, chunk):
        hi = min(lo + chunk - 1, start + dossiers)
        with ctx.db.engine.begin() as conn:
            conn.execute(text("SELECT setseed(:s)"), {"s": (lo % 997) / 997.0})
            for stmt in statements:
                conn.execute(stmt, {"lo": lo, "hi": hi, "now": now})
        done = hi - start
        print(f"{done:>9,} dossiers  {time.perf_counter() - began:7.1f} s", flush=True)
    with ctx.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("dossier", "task", "handoff", "pause", "event"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
    with ctx.db.transaction() as session:  # closed dossiers into the reports' rollup
        rollup.refresh(session, ctx.calendar(session), now, lag=timedelta(0))
    with ctx.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"done in {time.perf_counter() - began:.1f} s (with the rollup and VACUUM ANALYZE)")
    ctx.db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="PostgreSQL URL (postgresql+psycopg://...)")
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--now", help="the moment the data set ends, ISO 8601 (default: now)")
    parser.add_argument("--append", action="store_true", help="add to dossiers already there")
    parser.add_argument("--chunk", type=int, default=CHUNK)
    args = parser.parse_args(argv)
    if not args.url.startswith("postgresql"):
        parser.error("the generator needs PostgreSQL")
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    generate(args.url, args.dossiers, now, append=args.append, chunk=args.chunk)


if __name__ == "__main__":
    main()
