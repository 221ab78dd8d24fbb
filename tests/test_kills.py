"""kill -9 of web (and worker) processes under load (quick form of ``python -m stress.kills``).

gunicorn with 2 workers on PostgreSQL, a clerk and two specialists driving
receipts and completions through the API, a worker process killed every
1.5 s for 10 s: afterwards every acknowledged receipt and completion is in the
database exactly once, every dossier is consistent, the app still serves
and (when ``motcua worker`` exists) timers due during the kills have fired.
Runs on a database of its own, ``<test database>_kills``.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import make_url

from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="several server processes need PostgreSQL "
                                                   "(set MOTCUA_TEST_DATABASE_URL)")

SECONDS = float(os.environ.get("MOTCUA_KILL_SECONDS", "10"))


def test_acknowledged_actions_survive_kill_9_of_web_and_worker_processes_exactly_once():
    from stress import kills

    base = make_url(PG_URL)
    url = base.set(database=f"{base.database}_kills").render_as_string(hide_password=False)
    report = kills.run(url, SECONDS, 1.5)
    summary = report.as_dict()
    assert report.web_kills >= 3, summary
    assert report.receipts > 0 and report.completions > 0, summary
    assert report.missing_receipts == [], summary
    assert report.bad_completions == [], summary
    assert report.inconsistencies == [], summary
    assert report.server_errors == 0, summary
    assert report.still_serves, summary
    if kills.has_worker_command():
        assert report.worker_kills > 0, summary
        assert report.timers_not_fired == [], summary
