"""yuebao: a self-hosted monthly newsletter with per-topic editions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from webapp.config import Settings


def create_app(config: Mapping[str, Any] | None = None, *, web: bool = True) -> Flask:
    """Build the application: load config, wire extensions, blueprints and CLI. Nothing else.

    `web=False` is the application of a `yuebao worker` process, which serves no page: settings,
    database, translations and the worker command only. Leaving out the blueprints, the console
    extensions and the other commands (alembic, the importers, the API schemas) keeps the modules
    only pages use out of the worker, about 15 MB of resident memory for its whole life.
    """
    from webapp import cli, db
    from webapp.config import flask_config, install, load_settings
    from webapp.extensions import babel, select_locale

    app = Flask(__name__)
    settings = load_settings(overrides=config)
    install(app, settings)
    app.config.update(flask_config(settings, overrides=config))
    if not web:
        db.init_app(app, settings.database_url)
        babel.init_app(app, locale_selector=select_locale)  # mails are translated
        cli.init_worker(app)
        return app
    return _wire_web(app, settings)


def _wire_web(app: Flask, settings: Settings) -> Flask:
    from webapp import (
        archive,
        auth,
        cli,
        db,
        errors,
        hooks,
        input_guard,
        labels,
        logs,
        main,
        public,
        security,
    )
    from webapp.admin import bp as admin_bp
    from webapp.api import bp as api_bp
    from webapp.config import current_settings
    from webapp.editor import bp as editor_bp
    from webapp.extensions import (
        babel,
        csrf,
        current_language,
        lang_attr,
        limiter,
        login_manager,
        select_locale,
    )
    from webapp.labels import status_labels
    from webapp.main.branding import page_brand
    from webapp.tracking import bp as tracking_bp

    if settings.trusted_proxies > 0:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )

    db.init_app(app, settings.database_url)
    hooks.init_app(app)  # outermost: /hooks/ses is answered before any other middleware
    logs.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    security.init_app(app)
    input_guard.init_app(app)
    errors.init_app(app)
    labels.init_app(app)

    app.register_blueprint(main.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(archive.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(tracking_bp)
    app.register_blueprint(editor_bp, url_prefix="/editor")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp)
    cli.init_app(app)

    @app.context_processor
    def _template_globals() -> dict[str, object]:
        return {"lang": current_language(), "status_labels": status_labels(),
                "settings": current_settings(), "brand": page_brand,
                "lang_attr": lang_attr}

    @app.after_request
    def _vary_language(response: Response) -> Response:
        response.vary.add("Accept-Language")
        return response

    return app
