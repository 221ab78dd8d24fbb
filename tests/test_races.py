"""Races between OS processes on PostgreSQL (quick form of ``python -m stress.races``).

Thread races on one process are in test_concurrency.py; these use spawned
processes, each with its own engine Context and connections, released by a
barrier: completing the same step, claiming the same step, N receipts at one
counter at the same second. One winner each, the loser gets Conflict and
nothing else, no duplicate or missing code numbers, every dossier consistent.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="races between processes need PostgreSQL "
                                                   "(set MOTCUA_TEST_DATABASE_URL)")

ROUNDS = int(os.environ.get("MOTCUA_RACE_ROUNDS", "30"))


def test_process_races_have_one_winner_and_leave_every_dossier_consistent(deployed):
    from stress import races

    report = races.run(deployed.db.url, ROUNDS, processes=3)
    assert report.failures == []
    assert report.inconsistencies == []
    assert report.complete_winners == {1: ROUNDS}
    assert report.claim_winners == {1: ROUNDS}
    assert report.loser_errors == {races.CONFLICT: 2 * ROUNDS}
    assert report.receipts == 3 * ROUNDS
    assert report.duplicate_codes == 0 and report.sequence_gaps == 0
