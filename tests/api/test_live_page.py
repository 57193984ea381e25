"""The live page in headless Chromium against the whole stack: Kafka, PostgreSQL, the API and
the real dataflow (``kinestream flow`` in its own process). Simulated jumps go in through the
ingest socket while the page watches (or before it opens); what it shows must be what the
analysis stored, and the truth within a centimetre at 60 fps. Screenshots land in
``.artifacts/screenshots/``."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from PIL import Image
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from kinestream import wire
from kinestream.api.server import running_server
from kinestream.simulation.camera import Camera
from kinestream.simulation.scenarios import Trial, countermovement_jumps, drop_jumps
from tests.api.chromium import Browser, Page, chromium_executable, launched
from tests.api.conftest import Api

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / ".artifacts" / "screenshots"
CMJ_PHASES = {"calibrating", "standing", "eccentric", "concentric", "flight", "landing", "stable"}

PAGE_STATE = """(() => {
  const byId = (id) => document.getElementById(id);
  const data = document.body.dataset;
  return {
    state: data.state,
    reconnects: Number(data.reconnects || 0),
    lastPosition: Number(data.lastPosition ?? -1),
    events: Number(data.events || 0),
    phase: byId("phase").dataset.phase || null,
    framesDrawn: Number(byId("skeleton").dataset.framesDrawn || 0),
    viewportMessage: byId("viewport-message").hidden ? null : byId("viewport-message").textContent,
    summary: byId("summary").hidden ? null : byId("summary-list").innerText,
    head: [...document.querySelectorAll("#reps-head th")].map((th) => th.textContent),
    reps: [...document.querySelectorAll("#reps-body tr")].map((row) => ({
      rep: Number(row.dataset.rep),
      metrics: Object.fromEntries(
        [...row.querySelectorAll("[data-metric]")].map((s) => [s.dataset.metric, s.textContent])
      ),
      warnings: [...row.querySelectorAll(".chip.warn")].map((chip) => chip.textContent),
    })),
    log: [...document.querySelectorAll("#log li")].map((item) => item.className + " " +
      item.querySelector("code").textContent),
    notice: byId("notice").hidden ? null : byId("notice").textContent,
    url: location.href,
  };
})()"""

SKELETON_PIXELS = """(() => {
  const canvas = document.getElementById("skeleton");
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let drawn = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) drawn += 1;
  return drawn;
})()"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Chromium for this module."""
    executable = chromium_executable()
    with launched(executable, tmp_path_factory.mktemp("chromium-profile")) as started:
        yield started


@pytest.fixture(scope="module")
def flow_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flow") / "flow.log"


@pytest.fixture(scope="module")
def flow(api: Api, flow_log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The analysis dataflow on the API's topics and database, in its own process."""
    topics = api.topics
    env = {
        **os.environ,
        "KINESTREAM_KAFKA": api.brokers,
        "KINESTREAM_DATABASE_URL": api.database_url,
        "KINESTREAM_TOPIC_FRAMES": topics.frames,
        "KINESTREAM_TOPIC_POSES": topics.poses,
        "KINESTREAM_TOPIC_CONTROL": topics.control,
        "KINESTREAM_TOPIC_EVENTS": topics.events,
        "KINESTREAM_TOPIC_WEBHOOKS": topics.webhooks,
    }
    with flow_log.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kinestream.cli", "flow", "--no-frames"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.kill()
        process.wait(10)


def send_session(api: Api, key: str, analysis_id: str, trial: Trial, pace: float | None) -> None:
    """Send the trial's poses through the ingest socket on wall-clock capture times, ``pace``
    times faster than real time (``None``: at once); closing the socket ends the analysis."""
    offset = time.time() - trial.samples[0].timestamp_s
    samples = [replace(s, timestamp_s=s.timestamp_s + offset) for s in trial.samples]
    url = api.ws_url(f"/analyses/{analysis_id}/ingest?end_on_close=1")
    protocols = [Subprotocol("kinestream.v1"), Subprotocol(f"bearer.{key}")]
    with connect(url, subprotocols=protocols, open_timeout=10) as ingest:
        started = time.monotonic()
        for sample in samples:
            if pace is not None:
                due = started + (sample.timestamp_s - samples[0].timestamp_s) / pace
                time.sleep(max(0.0, due - time.monotonic()))
            ingest.send(wire.encode_pose_value(sample, fps=trial.camera.fps))
        acked: set[int] = set()
        deadline = time.monotonic() + 30
        while len(acked) < len(samples):
            reply = json.loads(ingest.recv(timeout=max(0.01, deadline - time.monotonic())))
            assert reply["type"] in ("ack", "backpressure"), reply
            if reply["type"] == "ack":
                acked.add(reply["seq"])


def page_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(PAGE_STATE)
    return state


def wait_until_ended(
    page: Page, reps: int, flow: subprocess.Popen[bytes], flow_log: Path, timeout_s: float = 45.0
) -> dict[str, Any]:
    """The page's state once it shows the summary and ``reps`` rows."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = page_state(page)
        if state["summary"] is not None and len(state["reps"]) == reps:
            return state
        assert flow.poll() is None, f"the flow stopped: {flow_log.read_text()[-3000:]}"
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never showed {reps} reps and the summary: {state}")
        time.sleep(0.2)


def read_analysis(api: Api, key: str, analysis_id: str) -> dict[str, Any]:
    with api.client(key) as client:
        response = client.get(api.url(f"/analyses/{analysis_id}"))
    assert response.status_code == 200, response.text
    analysis: dict[str, Any] = response.json()
    return analysis


def stored_events(api: Api, stream_id: str, expected: int, timeout_s: float = 10.0) -> int:
    """How many events the database holds for the stream, once it holds ``expected`` (the
    watch socket may relay an event before the database sink has written it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with psycopg.connect(api.database_url) as conn:
            row = conn.execute("SELECT count(*) FROM events WHERE stream_id = %s", (stream_id,))
            count = row.fetchone()
        assert count is not None
        if int(count[0]) >= expected or time.monotonic() > deadline:
            return int(count[0])
        time.sleep(0.1)


def assert_every_event_shown_once(api: Api, state: dict[str, Any], stream_id: str) -> None:
    """The page applied positions 0..n-1, each once, and they are all the stream's events."""
    shown = state["lastPosition"] + 1
    assert state["events"] == shown == stored_events(api, stream_id, shown)


def assert_reps_shown(
    state: dict[str, Any], analysis: dict[str, Any], trial: Trial, tolerance_m: float = 0.01
) -> None:
    """The table shows the stored reps' jump heights (cm, one decimal) and flight times (ms,
    none), the heights near the truth."""
    stored = analysis["reps"]
    assert [row["rep"] for row in state["reps"]] == [rep["rep"] for rep in stored]
    assert len(stored) == len(trial.reps)
    for row, rep, truth in zip(state["reps"], stored, trial.reps, strict=True):
        shown, stored_m = row["metrics"], rep["metrics"]
        assert abs(float(shown["jump_height_m"]) - 100 * stored_m["jump_height_m"]) <= 0.05 + 1e-9
        assert abs(float(shown["flight_time_s"]) - 1000 * stored_m["flight_time_s"]) <= 0.5 + 1e-9
        assert abs(stored_m["jump_height_m"] - truth.jump_height_m) < tolerance_m


def assert_non_trivial_png(png: bytes, width: int) -> None:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.width == width
    assert image.height > 600
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None
    assert len(colours) > 1000, "a blank or nearly blank page"


def test_the_live_page_shows_the_session_as_it_happens(
    api: Api, browser: Browser, flow: subprocess.Popen[bytes], flow_log: Path
) -> None:
    key = api.new_key()
    created = api.create_analysis(key)
    analysis_id = created["analysis_id"]
    live = created["watch"]["live"]
    assert live == api.url(f"/analyses/{analysis_id}/live") + "#token=" + created["watch"]["token"]
    trial = countermovement_jumps(reps=3, seed=11)

    page = browser.new_page(1280, 900)
    page.navigate(live)
    page.wait_for("document.body.dataset.state === 'live'", 15, "the page to connect")
    assert "token" not in page_state(page)["url"], "the token stays in the address bar"
    send_session(api, key, analysis_id, trial, pace=4.0)
    state = wait_until_ended(page, len(trial.reps), flow, flow_log)

    assert_every_event_shown_once(api, state, analysis_id)
    analysis = read_analysis(api, key, analysis_id)
    assert analysis["options"] == {"echo_pose": True}, "the API echoes poses by default"
    assert_reps_shown(state, analysis, trial)
    assert state["head"] == [
        "Rep",
        "Jump height (cm)",
        "Flight time (ms)",
        "Depth (cm)",
        "Confidence",
        "Warnings",
    ]
    assert [set(row["metrics"]) for row in state["reps"]] == [
        {"jump_height_m", "flight_time_s", "countermovement_depth_m"}
    ] * len(trial.reps)
    assert f"Repetitions\n{len(trial.reps)}" in state["summary"]
    assert state["phase"] in CMJ_PHASES
    assert state["state"] == "ended"
    assert state["reconnects"] == 0
    assert state["log"] == []
    # The skeleton was drawn live, and is on the canvas now.
    assert state["viewportMessage"] is None
    assert state["framesDrawn"] > 20
    assert page.evaluate(SKELETON_PIXELS) > 1000

    png = page.screenshot(SCREENSHOTS / "live_page.png")
    assert_non_trivial_png(png, 1280)
    page.set_viewport(390, 844, mobile=True)
    # Nothing wider than the phone: the page is not zoomed out to fit.
    assert page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]") == [390, 390]
    assert_non_trivial_png(page.screenshot(SCREENSHOTS / "live_page_phone.png"), 780)
    assert page.problems == []


def test_the_page_resumes_after_the_server_drops_a_slow_watcher(
    api: Api, browser: Browser, flow: subprocess.Popen[bytes], flow_log: Path
) -> None:
    """An API whose watchers may fall only two events behind closes the page's socket (1013)
    during bursts; the page reconnects with after= its last position and misses nothing.
    Drop jumps, this time: their table has contact time and RSI."""
    key = api.new_key()
    trial = drop_jumps(reps=2, seed=12)
    created = api.create_analysis(key, sport="drop_jump", box_height_m=trial.box_height_m)
    analysis_id = created["analysis_id"]
    with running_server(replace(api.settings, relay_queue_size=2)) as tight:
        page = browser.new_page()
        page.navigate(created["watch"]["live"].replace(api.server.base_url, tight.base_url))
        page.wait_for("document.body.dataset.state === 'live'", 15, "the page to connect")
        send_session(api, key, analysis_id, trial, pace=None)
        state = wait_until_ended(page, len(trial.reps), flow, flow_log)

    assert state["reconnects"] >= 1
    assert_every_event_shown_once(api, state, analysis_id)
    assert_reps_shown(state, read_analysis(api, key, analysis_id), trial)
    assert state["head"][3:5] == ["Contact time (ms)", "RSI (m/s)"]
    assert "log-item warning athlete_lost" in state["log"]  # between the drops
    assert page.problems == []


def test_a_page_opened_after_the_end_replays_the_session(
    api: Api, browser: Browser, flow: subprocess.Popen[bytes], flow_log: Path
) -> None:
    """Loaded late, the page replays the history (after=-1): reps, warnings, summary. At 30 fps
    the analysis warns, and each rep says so."""
    key = api.new_key()
    created = api.create_analysis(key)
    analysis_id = created["analysis_id"]
    trial = countermovement_jumps(reps=2, seed=13, camera=Camera(fps=30.0))
    send_session(api, key, analysis_id, trial, pace=None)
    deadline = time.monotonic() + 45
    while read_analysis(api, key, analysis_id)["status"] != "ended":
        assert time.monotonic() < deadline, f"never ended: {flow_log.read_text()[-3000:]}"
        time.sleep(0.2)

    page = browser.new_page()
    page.navigate(created["watch"]["live"])
    state = wait_until_ended(page, len(trial.reps), flow, flow_log, timeout_s=15)
    assert state["state"] == "ended"
    assert state["reconnects"] == 0
    assert_every_event_shown_once(api, state, analysis_id)
    assert_reps_shown(state, read_analysis(api, key, analysis_id), trial, tolerance_m=0.015)
    assert all("low fps" in row["warnings"] for row in state["reps"])
    assert "log-item warning low_fps" in state["log"]
    # History keeps no poses: the page says so instead of drawing a stale skeleton.
    assert state["viewportMessage"] == "The skeleton is drawn from live frames only"
    assert page.problems == []


def test_a_page_without_its_token_says_what_is_wrong(api: Api, browser: Browser) -> None:
    created = api.create_analysis(api.new_key())
    other = api.create_analysis(api.new_key())
    page_url = api.url(f"/analyses/{created['analysis_id']}/live")
    for url, reason in [
        (page_url, "needs the analysis's live link"),
        (f"{page_url}#token={other['watch']['token']}", "token is for another analysis"),
    ]:
        page = browser.new_page()
        page.navigate(url)
        state = page_state(page)
        assert state["state"] == "failed"
        assert reason in state["notice"]
        assert state["reconnects"] == 0


def test_the_page_is_the_same_for_every_analysis_and_loads_nothing_else(api: Api) -> None:
    known = api.create_analysis(api.new_key())["analysis_id"]
    pages = [
        httpx.get(api.url(f"/analyses/{analysis_id}/live"), timeout=10)
        for analysis_id in (known, "5b1f0c2e-8d5a-4c4e-9a51-0f3b2d7c6e19")
    ]
    assert [p.status_code for p in pages] == [200, 200]
    assert pages[0].content == pages[1].content
    assert pages[0].headers["content-type"] == "text/html; charset=utf-8"
    policy = pages[0].headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    assert "unsafe" not in policy
    # Nothing is fetched from anywhere: no URL in the page but an empty data: favicon.
    assert re.search(r"https?://|url\(", pages[0].text) is None
    assert re.findall(r'(?:src|href)="([^"]*)"', pages[0].text) == ["data:,"]
    assert httpx.get(api.url("/analyses/not-an-id/live"), timeout=10).status_code == 422
