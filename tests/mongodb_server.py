"""SecantusDB, the real MongoDB wire-protocol server the tests and benchmarks run against.

It runs as a separate process through its `secantusd-py` command (SecantusDB is GPL-2.0:
Oktopus never imports it), on a free loopback port with in-memory storage.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command() -> str:
    """The server's command, installed beside this interpreter by requirements.txt."""
    beside = Path(sys.executable).parent / "secantusd-py"
    found = str(beside) if beside.exists() else shutil.which("secantusd-py")
    if found is None:
        raise RuntimeError(
            "secantusd-py not found: `pip install -r requirements.txt` installs SecantusDB, "
            "the MongoDB wire-protocol server the API tests run against."
        )
    return found


def answers(uri: str, timeout_ms: int = 500) -> bool:
    """Whether the server at `uri` answers `ping`."""
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False
    finally:
        client.close()


@contextmanager
def secantus_server(timeout: float = 60.0) -> Iterator[str]:
    """Start SecantusDB, wait until it answers `ping`, yield its URI; stop it on the way out,
    however the block ends."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="secantus-") as tmp:
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    _command(),
                    *("--host", "127.0.0.1", "--port", str(port)),
                    *("--storage-path", ":memory:", "--log-level", "WARNING"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        try:
            deadline = time.monotonic() + timeout
            while not answers(uri):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"SecantusDB did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield uri
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
