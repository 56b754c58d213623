"""A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries run as an
ordinary process in a temporary folder, reachable only through a Unix socket in it.

    with PostgresServer() as pg:
        url = pg.create_database("term")  # postgresql+psycopg://postgres@/term?host=/tmp/pg-x&port=5432

No system service, no TCP port, nothing outside the folder, which `stop` removes. PostgreSQL
refuses to run as root, so as root (CI) its programs run as the `postgres` system user that
Debian's package creates (not as `nobody`, whom graded submissions run as).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER = "postgres"  # the database role initdb creates
PORT = 5432  # with no TCP, only the name of the socket: .s.PGSQL.5432


def bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin holding a server, or None."""
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    found.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self):
        self.bin = bindir()
        if self.bin is None:
            raise RuntimeError("no PostgreSQL server here: apt-get install -y postgresql")
        # Short, under /tmp: a socket's path must stay under 107 bytes, and pytest's are long.
        self.dir = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
        self.data, self.log = self.dir / "data", self.dir / "server.log"
        self.user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self.user:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self.started = False

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8")
        as_user = {}
        if self.user:
            env.update(HOME=str(self.dir), USER="postgres", LOGNAME="postgres")
            as_user = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        return subprocess.run(
            [str(self.bin / program), *args],
            cwd=self.dir,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            **as_user,
        )

    def start(self) -> PostgresServer:
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        settings = {
            "listen_addresses": "''",  # no TCP at all
            "unix_socket_directories": f"'{self.dir}'",
            "port": str(PORT),
            "max_connections": "100",
            # a throwaway cluster: durability off, which a busy disk thanks us for
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("".join(f"{k} = {v}\n" for k, v in settings.items()))
        try:
            self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"
            )
        except subprocess.CalledProcessError as error:
            why = f"{error.stderr}\n{self.server_log()}"
            raise RuntimeError(f"PostgreSQL did not start:\n{why}") from None
        self.started = True
        return self

    def stop(self) -> None:
        """Fast shutdown (open transactions rolled back), then the folder is removed."""
        try:
            if self.started:
                try:
                    self._run(
                        "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop"
                    )
                except subprocess.CalledProcessError:
                    self._kill()
        finally:
            self.started = False
            shutil.rmtree(self.dir, ignore_errors=True)

    def _kill(self) -> None:
        pidfile = self.data / "postmaster.pid"
        if not pidfile.exists():
            return
        pid = int(pidfile.read_text().split()[0])
        try:
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown
            for _ in range(100):
                time.sleep(0.1)
                os.kill(pid, 0)
        except ProcessLookupError:
            pass

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, database: str) -> str:
        # The socket's folder as a plain query parameter: nbgrader writes the URL into an
        # alembic.ini, where a percent-encoded %2F would be read as interpolation.
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.dir}&port={PORT}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host=str(self.dir), port=PORT, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def server_log(self) -> str:
        return self.log.read_text() if self.log.exists() else ""
