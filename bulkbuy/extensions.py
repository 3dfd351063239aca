"""Flask extension objects, created unbound and initialised in create_app()."""

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Named constraints keep Alembic migrations portable between SQLite and PostgreSQL.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def _skip_scheduler_tables(name, type_, parent_names):
    """Keep APScheduler's own tables out of Alembic autogenerate."""
    return not (type_ == "table" and name and name.startswith("apscheduler_"))


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True, include_name=_skip_scheduler_tables)
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def account_key() -> str:
    """The sign-in limit's key for an account: the e-mail typed in the form, trimmed and in
    lower case, whatever the network address (a blank one counts against its address)."""
    email = (request.form.get("email") or "").strip().lower()
    return f"account:{email}" if email else f"account:@{get_remote_address()}"
babel = Babel()
