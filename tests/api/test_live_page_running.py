"""The live page of a treadmill run in headless Chromium, against the whole stack: cadence
and contact time as live numbers, the steps' contact times as a left/right chart, the
summary in steps and bouts. Fixtures and helpers: :mod:`tests.api.test_live_page`."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from kinestream.simulation.camera import Camera
from kinestream.simulation.running import RunnerParams, run
from kinestream.simulation.scenarios import Trial
from kinestream.sports import Sport
from tests.api import test_live_page as live
from tests.api.chromium import Browser, Page
from tests.api.conftest import Api

browser = live.browser
flow = live.flow
flow_log = live.flow_log

RUNNING_STATE = """(() => {
  const tiles = [...document.querySelectorAll(".tile")].map((tile) => [
    tile.querySelector("dt").textContent, tile.querySelector("dd span").textContent,
  ]);
  const chart = document.getElementById("trace");
  const pixels = chart.getContext("2d").getImageData(0, 0, chart.width, chart.height).data;
  let drawn = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) drawn += 1;
  const summary = document.getElementById("summary");
  return {
    sport: document.getElementById("sport").textContent,
    phase: document.getElementById("phase").dataset.phase || null,
    tiles: Object.fromEntries(tiles),
    chartPixels: drawn,
    summary: summary.hidden ? null : document.getElementById("summary-list").innerText,
  };
})()"""


def running_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(RUNNING_STATE)
    return state


def test_the_live_page_shows_a_run(
    api: Api, browser: Browser, flow: subprocess.Popen[bytes], flow_log: Path
) -> None:
    key = api.new_key()
    created = api.create_analysis(key, sport="running", belt_speed_m_s=3.4)
    trial = run(RunnerParams(cadence_spm=176.0), steps=24, camera=Camera(fps=60), seed=4)
    page = browser.new_page(1280, 900)
    page.navigate(created["watch"]["live"])
    page.wait_for("document.body.dataset.state === 'live'", 15, "the page to connect")
    session = Trial(Sport.RUNNING, trial.samples, [], 1.80, trial.camera)
    live.send_session(api, key, created["analysis_id"], session, pace=4.0)
    deadline = time.monotonic() + 45
    while (state := running_state(page))["summary"] is None:
        assert flow.poll() is None, f"the flow stopped: {flow_log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"the page never showed the summary: {state}"
        time.sleep(0.2)
    assert state["sport"] == "Running"
    tiles = state["tiles"]
    assert set(tiles) == {"Cadence", "Steps", "Contact time", "Flight time"}
    assert abs(float(tiles["Cadence"]) - 176.0) <= 3.0
    assert int(tiles["Steps"]) >= 22
    assert 150 <= float(tiles["Contact time"]) <= 350
    assert state["chartPixels"] > 1000
    assert "Steps" in state["summary"]
    assert "Bouts\n1" in state["summary"]
    page.screenshot(live.SCREENSHOTS / "live_page_running.png")
