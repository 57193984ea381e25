"""``kinestream keys`` and ``kinestream api`` as an operator runs them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from kinestream.api.settings import ApiSettings
from kinestream.cli import main
from kinestream.store.analyses import SessionTimeouts
from kinestream.store.api_keys import check_request, create_key

REPO = Path(__file__).resolve().parents[2]


def test_keys_create_list_revoke(
    migrated_database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KINESTREAM_DATABASE_URL", migrated_database)
    created = main(["keys", "create", "--name", "coach app", "--rate-per-minute", "30"])
    out, err = capsys.readouterr()
    token = out.strip()
    assert created == 0, out + err
    key_id = token.split("_")[1]
    assert token.startswith("ks_")
    assert "\n" not in token
    assert f"created key {key_id} ('coach app': 30 requests/min, 5 concurrent streams)" in err
    assert "not shown again" in err
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        assert check_request(conn, token) is not None

    status = main(["keys", "list"])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    header, row = out.splitlines()
    assert header.split() == ["KEY_ID", "NAME", "RATE/MIN", "STREAMS", "CREATED", "REVOKED"]
    assert row.startswith(f"{key_id}  coach app  30        5        ")
    assert row.endswith("-")

    status = main(["keys", "revoke", key_id])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert out == f"revoked key {key_id} ('coach app')\n", out
    status = main(["keys", "list"])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert not out.splitlines()[1].endswith("-"), out
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        assert check_request(conn, token) is None

    status = main(["keys", "revoke", "0123456789abcdef"])
    out, err = capsys.readouterr()
    assert status == 1, out + err
    assert "no key '0123456789abcdef'" in err, err
    status = main(["keys", "create", "--name", " "])
    out, err = capsys.readouterr()
    assert status == 1, out + err
    assert "needs a name" in err, err


def test_keys_need_a_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KINESTREAM_DATABASE_URL", raising=False)
    status = main(["keys", "list"])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert "no database" in err, err
    status = main(["api"])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert "no database" in err, err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_kinestream_api_serves_until_stopped(migrated_database: str, kafka_bootstrap: str) -> None:
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        _, token = create_key(conn, "cli test")
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kinestream.cli",
            "api",
            "--port",
            str(port),
            "--brokers",
            kafka_bootstrap,
            "--database-url",
            migrated_database,
            "--topic-prefix",
            f"test_api_cli_{uuid.uuid4().hex[:8]}.",
            "--public-url",
            "https://api.example.com",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("KINESTREAM_TOPIC_")},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                sports = httpx.get(f"http://127.0.0.1:{port}/api/v1/sports")
                break
            except httpx.TransportError:
                assert process.poll() is None, "kinestream api exited"
                assert time.monotonic() < deadline, "kinestream api did not start"
                time.sleep(0.2)
        created = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/analyses",
            json={"sport": "squat_jump", "athlete_height_m": 1.9},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert sports.status_code == 200
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["ingest"]["kafka"]["control_topic"].startswith("test_api_cli_")
    assert body["watch"]["websocket"].startswith("wss://api.example.com/api/v1/analyses/")
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("KINESTREAM_SESSION_IDLE_TIMEOUT_S", "soon", "'soon' is not a number"),
        ("KINESTREAM_STOP_GRACE_S", "0", "'0' is not a positive number of seconds"),
        ("KINESTREAM_REAPER_INTERVAL_S", "inf", "'inf' is not a positive number of seconds"),
    ],
)
def test_kinestream_api_refuses_bad_session_timeouts(
    variable: str,
    value: str,
    reason: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, value)

    status = main(["api", "--database-url", "postgresql://x/y"])
    out, err = capsys.readouterr()
    assert status == 2, out + err
    assert f"kinestream api: {variable}: {reason}" in err, err


def test_session_timeouts_come_from_the_environment() -> None:
    settings = ApiSettings.from_env(
        {
            "KINESTREAM_DATABASE_URL": "postgresql://x/y",
            "KINESTREAM_SESSION_IDLE_TIMEOUT_S": "300",
            "KINESTREAM_STOP_GRACE_S": "12.5",
            "KINESTREAM_REAPER_INTERVAL_S": "2",
        }
    )
    defaults = ApiSettings.from_env({"KINESTREAM_DATABASE_URL": "postgresql://x/y"})

    assert (settings.session_timeouts, settings.reaper_interval_s) == (
        SessionTimeouts(idle_s=300.0, stop_grace_s=12.5),
        2.0,
    )
    assert (defaults.session_timeouts, defaults.reaper_interval_s) == (
        SessionTimeouts(idle_s=120.0, stop_grace_s=30.0),
        5.0,
    )
