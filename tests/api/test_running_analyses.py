"""``POST /analyses`` for running: the belt speed reaches the start message; the catalogue."""

from __future__ import annotations

import httpx

from kinestream import wire
from kinestream.sports import METRICS, Sport
from tests.api.conftest import Api, messages_of


def test_a_treadmill_run_starts_with_its_belt_speed(api: Api) -> None:
    key = api.new_key()
    with api.client(key) as client:
        response = client.post(
            api.url("/analyses"),
            json={"sport": "running", "athlete_height_m": 1.75, "belt_speed_m_s": 3.6},
        )
        refused = client.post(
            api.url("/analyses"),
            json={"sport": "cmj", "athlete_height_m": 1.75, "belt_speed_m_s": 3.6},
        )
    assert response.status_code == 201, response.text
    analysis_id = response.json()["analysis_id"]
    [message] = messages_of(api.brokers, api.topics.control, analysis_id)
    start = wire.decode_control(message.key(), message.value())
    assert isinstance(start, wire.StartMessage)
    assert (start.sport, start.belt_speed_m_s) == (Sport.RUNNING, 3.6)
    assert refused.status_code == 422
    assert "running only" in refused.text


def test_the_catalogue_lists_running_and_its_units(api: Api) -> None:
    sports = {s["sport"]: s for s in httpx.get(api.url("/sports")).json()["sports"]}
    running = {m["name"]: m["unit"] for m in sports["running"]["metrics"]}
    assert running == {m.name: m.unit for m in METRICS[Sport.RUNNING]}
    assert running["cadence_spm"] == "steps/min"
