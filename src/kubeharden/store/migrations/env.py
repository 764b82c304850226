"""Alembic's environment for the history store: migrations run on the connection the store opened.

:func:`kubeharden.store.database.open_store` passes its connection in ``config.attributes``; there
is no alembic.ini and no URL here, so migrations never open a second connection.
"""

from alembic import context

from kubeharden.store.schema import Base

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters tables by copying them; Alembic's batch mode does that for us.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
