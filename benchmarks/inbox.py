"""The inbox query on a large database: p50/p95/p99 of one page of a unit's open tasks.

    python -m benchmarks.inbox --url postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports [--queries 500]

Run it on a database made by ``benchmarks.dataset`` (1,000,000 dossiers with
about a tenth of them open). Each query is what the inbox page and
``GET /api/v1/tasks`` run: ``engine.tasks.inbox`` for one unit, first page of
50, soonest due first, with the total count, in a read session. Units are
taken in turn over every unit that has open tasks, so the figures cover small
and large inboxes; the search and procedure filters are timed too.
"""

from __future__ import annotations

import argparse
import statistics
from time import perf_counter

from sqlalchemy import func, select

from benchmarks.machine import cpu_model
from benchmarks.percentiles import percentile_ms
from engine.database import Database
from engine.models import Dossier, Procedure, Task, TaskState
from engine.tasks import InboxQuery, inbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inbox", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="database made by benchmarks.dataset")
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args(argv)
    db = Database(args.url)
    with db.reading() as session:
        dossiers = session.scalar(select(func.count()).select_from(Dossier))
        open_by_unit = session.execute(
            select(Task.unit_id, func.count()).where(Task.state == TaskState.OPEN).group_by(Task.unit_id)
            .order_by(func.count().desc())).all()
        code = session.scalar(select(Procedure.code).order_by(Procedure.code))
    units = [unit for unit, _ in open_by_unit]
    print(f"machine: {cpu_model()}; database: {db.dialect}, {dossiers:,} dossiers, "
          f"{sum(n for _, n in open_by_unit):,} open tasks in {len(units)} units "
          f"(largest inbox {open_by_unit[0][1]:,}, smallest {open_by_unit[-1][1]:,})")
    kinds = {
        "first page": lambda unit: InboxQuery(unit_id=unit),
        "page 5": lambda unit: InboxQuery(unit_id=unit, offset=200),
        f"procedure {code}": lambda unit: InboxQuery(unit_id=unit, procedure_code=code),
        "search by name": lambda unit: InboxQuery(unit_id=unit, search="Nguyễn"),
    }
    print(f"{'query':<28}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for label, make in kinds.items():
        times = []
        for i in range(args.queries):
            query = make(units[i % len(units)])
            started = perf_counter()
            with db.reading() as session:
                rows, _total = inbox(session, query)
                [row.dossier.code for row in rows]
            times.append(perf_counter() - started)
        print(f"{label:<28}{len(times):>7}{statistics.median(times) * 1000:>9.2f}{percentile_ms(times, 95):>9.2f}"
              f"{percentile_ms(times, 99):>9.2f}")
    db.dispose()


if __name__ == "__main__":
    main()
