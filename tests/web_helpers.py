"""Test clients for the web app: signed in as a demo user, with real CSRF tokens."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from engine.context import Context
from web import create_app

PASSWORD = "motcua2026"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def app_for(ctx: Context):
    return create_app(ctx, testing=True)


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def signed_in(ctx: Context, username: str, app=None) -> FlaskClient:
    """A client whose session belongs to ``username`` (signed in through the real form)."""
    client = (app or app_for(ctx)).test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client
