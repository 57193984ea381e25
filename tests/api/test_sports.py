"""``GET /sports``: every sport's metrics, how to film it, and the pose model; no key needed."""

from __future__ import annotations

import httpx

from kinestream.sports import METRICS, Sport
from tests.api.conftest import Api


def test_the_catalogue_lists_every_sport_and_metric(api: Api) -> None:
    response = httpx.get(api.url("/sports"))
    assert response.status_code == 200
    catalogue = response.json()
    assert catalogue["pose_model"] == {
        "name": "MediaPipe Pose",
        "version": "0.10.21",
        "model_complexity": 1,
        "landmarks": 33,
    }
    sports = {item["sport"]: item for item in catalogue["sports"]}
    assert set(sports) == {sport.value for sport in Sport}
    for sport in Sport:
        item = sports[sport.value]
        assert item["metrics"] == [
            {"name": m.name, "unit": m.unit, "description": m.description} for m in METRICS[sport]
        ]
        assert item["box_height_required"] is (sport is Sport.DROP_JUMP)
        assert item["recommended_fps"] == 60.0
        assert any("side view" in line for line in item["view"])
        assert any("quiet, upright standing" in line for line in item["view"])
    assert any("on the box" in line for line in sports["drop_jump"]["view"])
