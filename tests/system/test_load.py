"""The load test of bench/load.py in a short form: eight users at once for a few seconds."""

import os
from pathlib import Path

from bench import load, run


def test_eight_users_at_once_lose_nothing_and_overwrite_nothing(database, tmp_path):
    url, engine = database
    cpu = max(os.sched_getaffinity(0))
    server, port = run.start_server(url, var_dir=tmp_path, cpu=cpu)
    try:
        # As the load test runs it: the one worker kept on one CPU (crm serve --cpu).
        status = Path(f"/proc/{server.pid}/status").read_text()
        assert f"Cpus_allowed_list:\t{cpu}\n" in status
        result = load.run_mixed(engine, port, users=8, seconds=6)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert result["server_errors"] == {}
    assert result["lost"] == {
        "touchpoints": 0,
        "enrollment moves": 0,
        "contact edits": 0,
        "deal changes": 0,
    }
    # The board counts and the forecast, kept by triggers under concurrent writers, equal
    # a fresh count, before and after settling.
    assert result["kept figures differing"] == {}
    # Moves of one enrollment at once took turns: none is left in two phases.
    assert result["enrollments in two phases at once"] == 0
    # Every kind of write happened, so that the count above counted something.
    assert all(count > 0 for count in result["acknowledged"].values()), result["acknowledged"]
