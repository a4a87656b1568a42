"""Benchmark the CRM's hot paths against a real `crm serve` on 127.0.0.1.

    .venv/bin/python bench/run.py [--requests 300] [--database-url URL]

Sets up a fresh SQLite database (or uses the given, empty, one), starts the server as its
own process, and times sequential requests over one keep-alive connection. Prints the
median and 95th percentile latency and the throughput of each operation.
"""

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

BIN = Path(sys.executable).parent
EMAIL, PASSWORD = "bench@example.com", "bench password"


def crm(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [BIN / "crm", *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start within 30 s")


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        if cookie := response.getheader("set-cookie"):
            self.cookie = cookie.split(";", 1)[0]
        return response.status, text


def login(client: Client) -> None:
    _, page = client.request("GET", "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urlencode({"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    status, _ = client.request(
        "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 303, f"login failed with {status}"


def measure(count: int, call: Callable[[], int], expected: int) -> list[float]:
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        status = call()
        timings.append((time.perf_counter() - start) * 1000)
        assert status == expected, f"got {status}, expected {expected}"
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    env = {
        **os.environ,
        "CRM_VAR_DIR": str(workdir),
        "CRM_RUN_SCHEDULER": "false",
        "CRM_DATABASE_URL": options.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
    }
    crm(env, "migrate")
    crm(
        env,
        "create-user",
        "--email",
        EMAIL,
        "--name",
        "Bench",
        "--role",
        "sales_rep",
        "--password",
        PASSWORD,
    )
    token = crm(env, "create-token", "--email", EMAIL).strip()

    port = free_port()
    server = subprocess.Popen(
        [BIN / "crm", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(port, server)
        api, browser = Client(port), Client(port)
        login(browser)
        bearer = {"Authorization": f"Bearer {token}"}
        count = options.requests
        operations = {
            "GET /healthz": (count, lambda: api.request("GET", "/healthz")[0], 200),
            "GET /api/v1/me (token)": (
                count,
                lambda: api.request("GET", "/api/v1/me", headers=bearer)[0],
                200,
            ),
            "GET / (signed-in page)": (count, lambda: browser.request("GET", "/")[0], 200),
            "GET /login (anonymous page)": (
                count,
                lambda: Client(port).request("GET", "/login")[0],
                200,
            ),
            "POST /login (Argon2)": (
                max(10, count // 20),
                lambda: (login(Client(port)), 303)[1],
                303,
            ),
        }
        results = {}
        print(f"{'operation':32} {'n':>5} {'median ms':>10} {'p95 ms':>8} {'req/s':>7}")
        for name, (n, call, expected) in operations.items():
            timings = sorted(measure(n, call, expected))
            median = statistics.median(timings)
            p95 = timings[int(len(timings) * 0.95) - 1]
            rate = 1000 * len(timings) / sum(timings)
            results[name] = {
                "n": n,
                "median_ms": round(median, 2),
                "p95_ms": round(p95, 2),
                "per_second": round(rate, 1),
            }
            print(f"{name:32} {n:>5} {median:>10.2f} {p95:>8.2f} {rate:>7.1f}")
        (workdir / "results.json").write_text(json.dumps(results, indent=2))
        print(f"results: {workdir / 'results.json'}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
