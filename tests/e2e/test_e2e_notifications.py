"""The bell in a real browser: an escalation from the worker shows up, opens its dossier, is then read."""

from __future__ import annotations

from dataclasses import replace

from engine.settings import WorkerSettings
from engine.worker import Worker
from tests.conftest import vn
from tests.e2e.conftest import shot, sign_in
from tests.helpers import receive_permit


def test_the_bell_shows_an_escalation_and_opens_the_dossier(deployed, clock, live_server, page):
    deployed.settings = replace(deployed.settings, worker=WorkerSettings(digest_at=None))
    code = receive_permit(deployed)
    clock.set(vn(2026, 3, 12, 9, 1))  # the first step is overdue
    Worker(deployed).run_once()

    sign_in(page, live_server, "hk.qldt.ld")
    badge = page.locator("#mc-bell-count .badge")
    badge.wait_for()
    assert badge.inner_text().startswith("1")
    shot(page, "notifications-bell", full_page=False)

    page.click("a[href='/notifications/']")
    page.wait_for_load_state("networkidle")
    assert f"Hồ sơ {code} quá hạn ở bước “Thẩm định hồ sơ”" in page.inner_text("main")
    shot(page, "notifications-list")

    page.click("button:has-text('Xem')")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/dossiers/{code}")
    page.wait_for_timeout(300)
    assert page.locator("#mc-bell-count .badge").count() == 0
