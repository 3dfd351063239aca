"""bulkbuy: neighbours buying together at wholesale prices."""

import os
import secrets
from pathlib import Path

from flask import Flask

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

    from bulkbuy import cli, extensions, web

    extensions.db.init_app(app)
    extensions.migrate.init_app(app, extensions.db)
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)
    extensions.babel.init_app(app)
    web.init_app(app)
    cli.init_app(app)
    return app


def _instance_secret_key(instance: Path) -> str:
    """Read the secret key kept in instance/, generating it on first start.

    The file is created owner-only in one step, and only if it does not exist
    yet, so two processes starting together end up with the same key.
    """
    key_file = instance / "secret_key"
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return key_file.read_text().strip()
