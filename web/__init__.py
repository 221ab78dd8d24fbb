"""The Flask front end: one client of the engine.

``create_app`` builds the application around one engine ``Context`` per
process; blueprints hold the pages and the API.
"""

from __future__ import annotations

import secrets

from flask import Flask

from engine.context import Context, make_context


def create_app(ctx: Context | None = None) -> Flask:
    ctx = ctx or make_context()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = ctx.settings.secret_key or secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = ctx.settings.upload_limit_bytes
    app.extensions["motcua"] = ctx

    from web.health import bp as health_bp

    app.register_blueprint(health_bp)
    return app
