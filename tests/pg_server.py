"""A private, throwaway PostgreSQL server for the tests that need one (Debian's packages; `make test`
installs them when missing). It listens on 127.0.0.1 only, on a free port, with its data in a
temporary folder, and is stopped and deleted after the test session."""

from __future__ import annotations

import getpass
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER, PASSWORD, DATABASE = "liftlab", "pg-Test-Secret-42", "liftlab"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root, so run it as Debian's `postgres` user there
    return ["runuser", "-u", "postgres", "--", *command] if getpass.getuser() == "root" else command


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server and yield its URL (with a password), or raise RuntimeError saying what is missing."""
    binaries = _binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed: run `make test` (it installs Debian's postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="liftlab-pg-"))
    data, sockets, password_file = folder / "data", folder / "run", folder / "password"
    sockets.mkdir()
    password_file.write_text(PASSWORD + "\n")
    if getpass.getuser() == "root":
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
        shutil.chown(password_file, "postgres")
    os.chmod(folder, 0o700)
    port = _free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT, "check": True}
    subprocess.run(_as_server_user([str(binaries / "initdb"), "-D", str(data), "-U", USER, "-A", "scram-sha-256",
                                    f"--pwfile={password_file}"]), **quiet)  # fmt: skip
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off"
    subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "start",
                                    "-l", str(folder / "server.log")]), **quiet)  # fmt: skip
    try:
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        subprocess.run([str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE],
                       env=env, **quiet)  # fmt: skip
        yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"
    finally:
        subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=False)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
