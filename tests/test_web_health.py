"""Liveness, readiness and the front page of the web application."""

from __future__ import annotations

import pytest

from engine import schema
from engine.context import Context
from engine.database import Database
from engine.settings import Settings
from tests.lifecycle_helpers import empty_database
from web import create_app


def client_for(ctx: Context):
    app = create_app(ctx)
    app.testing = True
    return app.test_client()


@pytest.fixture
def empty_ctx(clock, tmp_path):
    with empty_database() as url:
        context = Context(
            db=Database(url), settings=Settings(database_url=url, instance_dir=tmp_path), clock=clock
        )
        yield context
        context.db.dispose()


def test_healthz_answers_ok(ctx):
    response = client_for(ctx).get("/healthz")
    assert response.status_code == 200
    assert response.is_json and response.get_json() == {"ok": True}


def test_healthz_answers_even_without_a_schema(empty_ctx):
    assert client_for(empty_ctx).get("/healthz").status_code == 200


def test_readyz_is_ready_at_the_head_revision(ctx):
    response = client_for(ctx).get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True
    assert body["schema"] == body["schema_head"] == schema.head_revision(ctx.db)
    assert body["database"] == ctx.db.dialect


def test_readyz_is_not_ready_on_an_empty_database_until_upgraded(empty_ctx):
    client = client_for(empty_ctx)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ok"] is False and body["schema"] is None and body["schema_head"]
    schema.upgrade(empty_ctx.db)
    assert client.get("/readyz").status_code == 200


def test_readyz_reports_an_unreachable_database(clock, tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    ctx = Context(db=Database(url), settings=Settings(database_url=url, instance_dir=tmp_path), clock=clock)
    try:
        response = client_for(ctx).get("/readyz")
    finally:
        ctx.db.dispose()
    assert response.status_code == 503
    body = response.get_json()
    assert body["ok"] is False and body["database"] == "unreachable"
    assert "nobody" not in response.get_data(as_text=True)  # no connection details leak


def test_status_page_is_in_vietnamese(ctx):
    response = client_for(ctx).get("/status")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Hệ thống một cửa điện tử" in page
    assert "Hệ thống đang hoạt động bình thường" in page
    assert '<html lang="vi">' in page


def test_status_page_says_when_the_system_is_not_ready(empty_ctx):
    response = client_for(empty_ctx).get("/status")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Hệ thống một cửa điện tử" in page and "chưa sẵn sàng" in page


def test_front_page_sends_visitors_to_sign_in(ctx):
    response = client_for(ctx).get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
