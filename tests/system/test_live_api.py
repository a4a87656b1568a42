"""The API and the pages as a program and a person meet them: a real `crm serve`."""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest

from bench import run
from tests.system.conftest import OWNER_EMAIL, OWNER_PASSWORD, owner_token

# Far below the 60 s the request waited for a lock before it was fixed, far above a run.
PATIENCE = 15


@pytest.fixture
def server(database, tmp_path):
    url, engine = database
    process, port = run.start_server(url, var_dir=tmp_path, count_statements=False)
    yield port, engine
    process.terminate()
    process.wait(timeout=10)


def impatient_client(port: int) -> run.Client:
    client = run.Client(port)
    client.conn.timeout = PATIENCE  # a request that hangs fails the test instead
    return client


def test_running_the_rules_from_the_api_answers_at_once(server):
    port, engine = server
    client = impatient_client(port)
    headers = {**owner_token(engine), "Content-Type": "application/json"}
    status, answer, _ = client.request(
        "POST", "/api/v1/followups/run", json.dumps({"as_of": "2026-06-01T12:00:00Z"}), headers
    )
    assert status == 200, answer
    run_ = json.loads(answer)
    assert run_["error"] is None and run_["as_of"].startswith("2026-06-01T12:00")
    status, answer, _ = client.request("GET", "/api/v1/followups/runs", headers=headers)
    assert [r["id"] for r in json.loads(answer)][:1] == [run_["id"]]


def test_running_the_rules_from_the_page_answers_at_once(server):
    port, _ = server
    client = impatient_client(port)
    _, page, _ = client.request("GET", "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = urlencode({"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "csrf_token": token})
    assert client.request("POST", "/login", body, form)[0] == 303
    _, page, _ = client.request("GET", "/followups/rules")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    status, _, _ = client.request("POST", "/followups/run", urlencode({"csrf_token": token}), form)
    assert status == 303
    _, page, _ = client.request("GET", "/followups/rules")
    assert "follow-ups created" in page


def failed_logins(port: int, forwarded_for: list[str]) -> list[int]:
    """The statuses of failed logins, each for another address and claiming another
    client address in X-Forwarded-For."""
    client = impatient_client(port)
    _, page, _ = client.request("GET", "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    statuses = []
    for n, address in enumerate(forwarded_for):
        body = urlencode({"email": f"nobody{n}@example.com", "password": "x", "csrf_token": token})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": address}
        statuses.append(client.request("POST", "/login", body, headers)[0])
    return statuses


ADDRESSES = [f"203.0.113.{n}" for n in range(1, 8)]


def test_a_client_cannot_name_its_own_address_to_dodge_the_login_lock(server):
    port, _ = server
    # Five failures from this one address lock it, whatever the header claims.
    assert failed_logins(port, ADDRESSES) == [401] * 5 + [429] * 2


def test_a_configured_proxy_is_believed(database, tmp_path):
    url, _ = database
    settings = {"CRM_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    process, port = run.start_server(url, var_dir=tmp_path, settings=settings)
    try:
        assert failed_logins(port, ADDRESSES) == [401] * 7  # seven clients, one failure each
    finally:
        process.terminate()
        process.wait(timeout=10)


def requests_counted(page: str, route: str) -> float:
    pattern = rf'^crm_requests_total{{method="GET",route="{re.escape(route)}",status="200"}} (\S+)$'
    return sum(float(n) for n in re.findall(pattern, page, re.MULTILINE))


def me(port: int, bearer: dict[str, str]) -> int:
    return run.Client(port).request("GET", "/api/v1/me", headers=bearer)[0]


def test_several_workers_report_one_set_of_figures(database, tmp_path):
    url, engine = database
    bearer = owner_token(engine)
    process, port = run.start_server(url, var_dir=tmp_path, workers=2)
    counters = tmp_path / "metrics"
    sent = 0
    try:
        # Eight connections at once, so that the kernel hands them to both workers; go on
        # until both have served some (each then has a file of its own), within a bound.
        with ThreadPoolExecutor(8) as pool:
            while sent < 40 or (len(list(counters.glob("counter_*.db"))) < 2 and sent < 800):
                answers = pool.map(lambda _: me(port, bearer), range(8))
                assert set(answers) == {200}
                sent += 8
        scrapes = [run.Client(port).request("GET", "/metrics", headers=bearer)[1] for _ in range(6)]
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert len(list(counters.glob("counter_*.db"))) == 2, "one worker served every request"
    # Whichever worker answers the scrape, it counts what both of them served.
    assert {requests_counted(page, "/api/v1/me") for page in scrapes} == {float(sent)}
