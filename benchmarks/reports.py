"""Timing of the dashboard, indicators and ledger on a large data set (see benchmarks/dataset.py).

    .venv/bin/python -m benchmarks.reports --url postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports

Each query is run ``--repeat`` times after one warm-up, for the city's
administrator (everything), a district leader (one district) and a counter
clerk (the ledger); then the pages themselves through the Flask test client.
The table shows the median and the worst time in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from engine import indicators, ledger
from engine.clock import FixedClock
from engine.context import Context
from engine.database import Database
from engine.directory import get_user
from engine.indicators import ReportFilter
from engine.models import Dossier
from engine.settings import Settings

TZ = "Asia/Ho_Chi_Minh"


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), max(times)


def query_cases(ctx: Context, now: datetime) -> list[tuple[str, Callable[[], object]]]:
    today = now.astimezone(ZoneInfo(TZ)).date()
    year = ReportFilter(date(today.year - 1, today.month, 1), today, tz=TZ)
    month = ReportFilter(today.replace(day=1), today, tz=TZ)
    cases = []
    for username, label in (("hn.quantri", "city (admin)"), ("hk.lanhdao", "district leader")):
        def run(fn, flt, username=username, **kw):
            def call():
                with ctx.db.reading() as session:
                    return fn(session, get_user(session, username), flt, **kw)
            return call
        cases += [
            (f"{label}: totals, 12 months", run(indicators.totals, year, now=now)),
            (f"{label}: per month, 12 months", run(indicators.breakdown, year, now=now, dimension="month")),
            (f"{label}: per unit, 12 months", run(indicators.breakdown, year, now=now, dimension="unit")),
            (f"{label}: overdue by unit", run(indicators.overdue_by_unit, year, now=now)),
            (f"{label}: oldest open", run(indicators.oldest_open, year)),
            (f"{label}: feedback 5.2", run(indicators.feedback_counts, year, now=now)),
        ]

    def average_days():
        with ctx.db.reading() as session:
            return indicators.average_working_days(session, get_user(session, "hn.quantri"), year,
                                                   ctx.calendar(session))

    cases.append(("city (admin): average days 2.2, 12 months", average_days))

    def ledger_page(page: int):
        def call():
            with ctx.db.reading() as session:
                user = get_user(session, "hk.motcua")
                return ledger.page(session, user, ReportFilter(month.date_from, month.date_to, user.unit_id, tz=TZ),
                                   page=page)
        return call

    cases += [("clerk: ledger, this month, page 1", ledger_page(1)),
              ("clerk: ledger, this month, last page", ledger_page(10_000))]
    return cases


def page_cases(ctx: Context) -> list[tuple[str, Callable[[], object]]]:
    from web import create_app
    from web.i18n import LANGUAGES  # noqa: F401  (the app's i18n is loaded)

    app = create_app(ctx, testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    clients = {}
    for username in ("hn.quantri", "hk.lanhdao", "hk.motcua"):
        client = app.test_client()
        response = client.post("/login", data={"username": username, "password": "motcua2026"})
        assert response.status_code == 302, f"cannot sign in as {username}"
        clients[username] = client

    def get(username: str, path: str):
        def call():
            response = clients[username].get(path)
            assert response.status_code == 200, (path, response.status_code)
        return call

    return [
        ("page: /reports/dashboard (admin, 12 months)", get("hn.quantri", "/reports/dashboard")),
        ("page: /reports/dashboard (district leader)", get("hk.lanhdao", "/reports/dashboard")),
        ("page: /reports/indicators (admin, by unit)", get("hn.quantri", "/reports/indicators")),
        ("page: /reports/ledger (clerk, this month)", get("hk.motcua", "/reports/ledger")),
        ("page: /reports/ledger (district leader, all counters, month)", get("hk.lanhdao", "/reports/ledger")),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-pages", action="store_true")
    args = parser.parse_args(argv)
    db = Database(args.url)
    with db.reading() as session:
        now = session.scalar(select(func.max(Dossier.received_at))) or datetime.now(UTC)
        total = session.scalar(select(func.count()).select_from(Dossier))
    now = now + timedelta(hours=1)
    ctx = Context(db=db, settings=Settings(database_url=args.url, instance_dir=Path("/tmp")), clock=FixedClock(now))
    print(f"{total:,} dossiers; clock at {now:%Y-%m-%d %H:%M} UTC; median / worst of {args.repeat} runs\n")
    print(f"| {'what':<62} | median ms | worst ms |")
    print(f"|{'-' * 64}|----------:|---------:|")
    cases = query_cases(ctx, now) + ([] if args.no_pages else page_cases(ctx))
    for label, fn in cases:
        median, worst = timed(fn, args.repeat)
        print(f"| {label:<62} | {median:9.0f} | {worst:8.0f} |", flush=True)
    db.dispose()


if __name__ == "__main__":
    main()
