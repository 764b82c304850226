"""History: scans and their findings kept in SQLite (one user) or PostgreSQL (a team).

:mod:`.database` opens a store by URL and keeps its schema current (Alembic migrations in
``migrations/``); :mod:`.history` saves a scan, lists scans, and compares two scans by the
findings' fingerprints; :mod:`.baseline` reads a baseline (a stored scan or a report file).
Stores only persist: nothing here evaluates anything.
"""
