"""docker-compose.yml describes a system that the code can actually run.

There is no Docker engine in CI, so this reads the file: its structure, and that every
``kinestream ...`` command a service runs is one the ``kinestream`` parser accepts.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from kinestream.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
KINESTREAM_SERVICES = ("topics", "migrate", "worker-0", "worker-1", "webhooks", "api")
LONG_RUNNING = ("worker-0", "worker-1", "webhooks", "api")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_part_of_the_system_is_a_service(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"kafka", "timescaledb", *KINESTREAM_SERVICES}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:")
    for name in KINESTREAM_SERVICES:
        assert services[name]["build"] == ".", name
        assert (ROOT / "Dockerfile").is_file()


def test_services_start_in_order(services: dict[str, dict[str, Any]]) -> None:
    assert services["migrate"]["depends_on"] == {"timescaledb": {"condition": "service_healthy"}}
    assert services["topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    for name in ("migrate", "topics"):
        assert services[name]["restart"] == "no"
    for name in LONG_RUNNING:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends_on["topics"] == {"condition": "service_completed_successfully"}, name
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    for name in ("kafka", "timescaledb"):
        assert "healthcheck" in services[name], name


def test_workers_form_one_cluster(services: dict[str, dict[str, Any]]) -> None:
    commands = [services[f"worker-{i}"]["command"] for i in (0, 1)]
    addresses = [command[command.index("-a") + 1] for command in commands]
    process_ids = [command[command.index("-i") + 1] for command in commands]

    assert addresses[0] == addresses[1]
    # One recovery directory, on one volume both processes mount.
    recovery = [command[command.index("--recovery-dir") + 1] for command in commands]
    assert recovery[0] == recovery[1]
    mounts = [services[f"worker-{i}"]["volumes"] for i in (0, 1)]
    assert mounts[0] == mounts[1] == [f"recovery:{recovery[0]}"]
    hosts = [address.split(":")[0] for address in addresses[0].split(";")]
    assert hosts == [services["worker-0"]["hostname"], services["worker-1"]["hostname"]]
    assert process_ids == ["0", "1"]


@pytest.mark.parametrize("service", KINESTREAM_SERVICES)
def test_service_command_is_a_kinestream_command(
    services: dict[str, dict[str, Any]], service: str
) -> None:
    command = services[service]["command"]
    assert command[0] == "kinestream"
    parser = build_parser()
    subcommands = _subcommands(parser)
    assert command[1] in subcommands, (
        f"service {service!r} runs `kinestream {command[1]}`, which the CLI does not have"
        f" (it has: {', '.join(sorted(subcommands))})"
    )

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            args = parser.parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"`{' '.join(command)}` is rejected by the CLI: {stderr.getvalue()}")
    assert callable(args.handler)
