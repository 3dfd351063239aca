"""bulkbuy: neighbours buying together at wholesale prices."""

import os
import secrets
import tempfile
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config


def create_app(config: type | None = None, overrides: dict | None = None) -> Flask:
    """Build the app: settings from `Config` plus `instance/config.py` (or from the
    given class alone, as tests do), then `overrides`, then extensions and blueprints."""
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    app.config.from_object(config or Config)
    if config is None:
        app.config.from_pyfile("config.py", silent=True)
    app.config.update(overrides or {})

    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        db_file = Path(app.instance_path) / "bulkbuy.sqlite"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(Path(app.instance_path))

    from bulkbuy import app_logging, cli, compression, extensions, i18n, transactions, web

    app_logging.configure(app)
    extensions.db.init_app(app)
    extensions.migrate.init_app(app, extensions.db)
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)
    extensions.babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.init_app(app)
    compression.init_app(app)  # first: it runs after every other after_request
    transactions.init_app(app)
    web.init_app(app)
    cli.init_app(app)
    hops = int(app.config.get("TRUSTED_PROXIES", 0))
    if hops:
        # Behind nginx or similar: take the client's address and scheme from the proxy,
        # so each resident has their own sign-in rate limit and links use https.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


def _instance_secret_key(instance: Path) -> str:
    """Read the secret key kept in instance/, generating it on first start.

    A new key is written owner-only to a file of its own, then linked into
    place only if no key is there yet, so the key file is never seen half
    written and processes starting together all read the same key.
    """
    key_file = instance / "secret_key"
    if not key_file.exists():
        fd, temporary = tempfile.mkstemp(dir=instance, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            os.link(temporary, key_file)
        except FileExistsError:
            pass  # another process got there first: use its key
        finally:
            os.unlink(temporary)
    return key_file.read_text().strip()
