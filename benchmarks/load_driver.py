"""Client threads that drive a server for a bounded time, and the CPU time spent meanwhile.

The server's API process and its worker processes are read from /proc (Linux), the client's
threads from this process's own CPU time.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far; NaN where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_share(seconds: float = 1.0) -> float:
    """Share of the machine's CPU time in use (steal included) over `seconds`; NaN without
    /proc (Linux). Taken before the servers start, it is what other work takes."""

    def sample() -> tuple[int, int]:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except OSError:
            return 0, 0
        idle = fields[3] + fields[4]  # idle and iowait
        return sum(fields[:8]) - idle, sum(fields[:8])

    busy_before, total_before = sample()
    time.sleep(seconds)
    busy_after, total_after = sample()
    elapsed = total_after - total_before
    return (busy_after - busy_before) / elapsed if elapsed else float("nan")


def children(pid: int) -> list[int]:
    """The process's child processes (its decision workers); none where /proc is not there."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time of the process itself and of its child processes together so far."""
    return cpu_seconds(pid), sum(cpu_seconds(child) for child in children(pid))


class Clients:
    """`threads` client threads, each keeping one HTTP client (and its connection) for the
    whole benchmark, so no round of requests pays for setting clients up."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="load")
        self._local = threading.local()

    def _http(self, url: str) -> httpx.Client:
        clients = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        if url not in clients:
            clients[url] = httpx.Client(base_url=url, timeout=30)
        return clients[url]

    def drive(
        self,
        url: str,
        requests: list[tuple[str, dict, dict | None]],
        seconds: float,
        server_pid: int,
    ):
        """Each thread walks its share of `requests` (path, headers, body) until time runs out.

        Returns (elapsed seconds, latencies in ms, {status: count}, bodies by request index,
        CPU seconds the server process and its worker processes used meanwhile, this client
        process's CPU seconds).
        """
        cpu_before = np.array(tree_cpu_seconds(server_pid))
        client_before = time.process_time()
        deadline = time.perf_counter() + seconds

        def walk(k: int) -> tuple[list[float], dict[int, int], dict[int, dict]]:
            http = self._http(url)
            latencies: list[float] = []
            statuses: dict[int, int] = {}
            bodies: dict[int, dict] = {}
            for index in range(k, len(requests), self.threads):
                if time.perf_counter() > deadline:
                    break
                path, headers, body = requests[index]
                start = time.perf_counter()
                response = http.post(path, json=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 200:
                    bodies[index] = response.json()
            return latencies, statuses, bodies

        started = time.perf_counter()
        results = list(self._pool.map(walk, range(self.threads)))
        elapsed = time.perf_counter() - started
        server_cpu = np.array(tree_cpu_seconds(server_pid)) - cpu_before
        client_cpu = time.process_time() - client_before
        codes: dict[int, int] = {}
        bodies: dict[int, dict] = {}
        for _, statuses, found in results:
            for code, n in statuses.items():
                codes[code] = codes.get(code, 0) + n
            bodies.update(found)
        latencies = [x * 1000 for row, _, _ in results for x in row]
        return elapsed, latencies, codes, bodies, server_cpu, client_cpu

    def close(self) -> None:
        def close_own() -> None:
            for http in getattr(self._local, "clients", {}).values():
                http.close()

        list(self._pool.map(lambda _: close_own(), range(self.threads)))
        self._pool.shutdown()
