"""The Flask front end: one client of the engine.

``create_app`` builds the application around one engine ``Context`` per
process; blueprints hold the pages and the API.
"""

from __future__ import annotations

import secrets

from flask import Flask
from flask_babel import get_locale
from flask_wtf.csrf import CSRFProtect

from engine.context import Context, make_context

csrf = CSRFProtect()


def create_app(ctx: Context | None = None, *, testing: bool = False) -> Flask:
    ctx = ctx or make_context()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=ctx.settings.secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=ctx.settings.upload_limit_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        TESTING=testing,
    )
    app.extensions["motcua"] = ctx
    _init_extensions(app)
    _register_blueprints(app)
    return app


def _init_extensions(app: Flask) -> None:
    from web import auth, errors, i18n, observability

    observability.init_app(app)  # first: every request gets its id before any other hook can answer
    csrf.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    errors.init_app(app)

    @app.context_processor
    def globals_for_templates():
        from web.home import nav_items

        return {"nav_items": nav_items, "current_locale": lambda: str(get_locale() or "vi"),
                "site_name": app.extensions["motcua"].settings.site_name}


def _register_blueprints(app: Flask) -> None:
    from web.api import bp as api_bp
    from web.health import bp as health_bp
    from web.home import bp as home_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(api_bp)
    from web.lookup import bp as lookup_bp

    app.register_blueprint(lookup_bp)
    from web.dossier_pages import bp as dossiers_bp
    from web.inbox import bp as inbox_bp

    app.register_blueprint(inbox_bp)
    app.register_blueprint(dossiers_bp)
    from web.counter import bp as counter_bp; app.register_blueprint(counter_bp)  # noqa: E702, I001
    from web.notifications import bp as notifications_bp; app.register_blueprint(notifications_bp)  # noqa: E702, I001
    from web.designer import bp as designer_bp; app.register_blueprint(designer_bp)  # noqa: E702, I001
    from web.reports import bp as reports_bp; app.register_blueprint(reports_bp)  # noqa: E702, I001
    from web.feedback import bp as feedback_bp; app.register_blueprint(feedback_bp)  # noqa: E702, I001
    from web.procedure_pages import bp as procedures_bp; app.register_blueprint(procedures_bp)  # noqa: E702, I001
