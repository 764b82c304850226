"""A real PostgreSQL server for tests: Debian's ``postgresql`` package, started on a private socket.

``.ci/run`` installs the package. The server runs as the ``postgres`` user when the tests run as
root (PostgreSQL refuses to run as root), listens on loopback at a free port and on a socket in
its own folder, and is stopped (and its data removed) at the end of the session.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def binaries() -> Path | None:
    """The folder holding initdb and postgres, or None when PostgreSQL is not installed."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "postgres").exists() and Path(folder, "initdb").exists():
            return Path(folder)
    found = shutil.which("postgres")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One throw-away server; ``url`` is a SQLAlchemy-style ``postgresql://`` URL of database ``kh``."""

    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package postgresql; .ci/run installs it)")
        self.root = Path(tempfile.mkdtemp(prefix="kh-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "kh"
        as_postgres = os.geteuid() == 0
        if as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"] if as_postgres else []
        pwfile = self.root / "pw"
        pwfile.write_text("secret-pw\n")
        if as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(self.data), "-U", self.user, "-A",
                        "scram-sha-256", "--pwfile", str(pwfile), "-E", "UTF8"], check=True,
                       capture_output=True)
        self.process = subprocess.Popen(
            [*prefix, str(bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
             "-k", str(self.root), "-c", "fsync=off"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.process.poll() is not None:
                    err = (self.process.stderr.read() if self.process.stderr else b"") or b""
                    raise RuntimeError("postgres exited: " + err.decode()[-2000:]) from None
                time.sleep(0.1)
        else:
            raise RuntimeError("postgres did not start in 30 s")
        import psycopg

        for _ in range(50):  # accepting connections may lag the port by a moment
            try:
                with psycopg.connect(self.base_url("postgres"), autocommit=True) as conn:
                    conn.execute("CREATE DATABASE kh")
                break
            except psycopg.OperationalError:
                time.sleep(0.1)

    def base_url(self, database: str) -> str:
        return f"postgresql://{self.user}:secret-pw@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)
