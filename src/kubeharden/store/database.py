"""Opening the history store by URL, with its schema brought up to date.

URLs: ``sqlite:///PATH`` (or a plain file path), ``postgresql://USER:PASSWORD@HOST:PORT/DB`` (the
``psycopg`` driver is used; install ``kubeharden[postgres]``). Without one, the store is
``KUBEHARDEN_STORE`` from the environment, else ``history.sqlite3`` in the user's data folder
(``platformdirs.user_data_dir("kubeharden")``: ``~/.local/share/kubeharden`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

#: The environment variable naming the default store.
STORE_ENV = "KUBEHARDEN_STORE"
DEFAULT_FILE = "history.sqlite3"


class StoreError(Exception):
    """The store cannot be opened, read or written; the message names it (without a password)."""


def default_url() -> str:
    """``$KUBEHARDEN_STORE``, else an SQLite file in the user's data folder."""
    from_env = os.environ.get(STORE_ENV, "").strip()
    if from_env:
        return from_env
    import platformdirs

    return f"sqlite:///{Path(platformdirs.user_data_dir('kubeharden')) / DEFAULT_FILE}"


def normalise_url(url: str) -> str:
    """A SQLAlchemy URL for what a user wrote: a plain path becomes ``sqlite:///PATH``;
    ``postgresql://`` and ``postgres://`` use the psycopg (version 3) driver."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def shown(url: str) -> str:
    """``url`` fit for a message: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<an unreadable store URL>"


def open_store(url: str | None = None) -> Engine:
    """An engine on the store at ``url`` (default :func:`default_url`), migrated to the newest schema.

    Raises StoreError when the URL is not understood, the driver is missing, the database cannot
    be reached or the migration fails.
    """
    url = normalise_url(url or default_url())
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"not a store URL: {url!r} (sqlite:///FILE or postgresql://USER@HOST/DB)") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"{shown(url)}: the store is SQLite or PostgreSQL")
    try:
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
    except ModuleNotFoundError as exc:
        raise StoreError(f"{shown(url)}: the driver {exc.name!r} is missing; install kubeharden[postgres]") from None
    except (OSError, SQLAlchemyError) as exc:
        raise StoreError(f"cannot open the store {shown(url)}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        _migrate(engine)
    except (OSError, SQLAlchemyError) as exc:
        engine.dispose()
        reason = getattr(exc, "orig", None) or exc
        raise StoreError(f"cannot open the store {shown(url)}: {str(reason).strip().splitlines()[0]}") from None
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE needs it in SQLite
    cursor.close()


def _migrate(engine: Engine) -> None:
    """Run every Alembic migration the database has not had yet (a no-op when it is current)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "kubeharden.store:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
