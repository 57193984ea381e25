"""Jump timing when a foot landmark strays: a frame or two read far off, as MediaPipe's do.

A pose model's foot landmarks stray for a frame or a few (heel and toe exchanged, the far
leg jumping by a decimetre, see :mod:`kinestream.simulation.noise`). Such a frame must not
set the detection thresholds (the quiet-standing noise), time a touchdown where the feet
are still far up, or set a drop jump's ground mid-fall. And where the feet's instants and
the CoM's flight disagree, the repetition says so.

Tolerances: the noise estimate within 15 % of the true jitter with 200 samples' worth of
sampling spread (4 %) and above 90 % of a slide's spread; touchdowns within a third of a
frame period of the truth, where the stray puts them one to three frames off; a drop's
ground within 5 mm and its contact within 6 ms, where a pausing landmark put them at half
the box and 70-80 ms early.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Final

import numpy as np
import numpy.typing as npt
import pytest

from bench.bench_lead_in import MATCH_S, analyse, session, with_lead_in
from kinestream.operators.anthropometry import BodyMeasurement
from kinestream.operators.ballistics import GRAVITY_M_S2
from kinestream.operators.calibration import Calibration, QuietStandingDetector
from kinestream.operators.phases.base import FEET_COM_LEVEL_M, Frame, Output, RepResult
from kinestream.operators.phases.cmj import CountermovementJump
from kinestream.operators.phases.drop_jump import DropJump
from kinestream.sports import JUMPS
from tests.operators.test_touchdown import calibration as calibration_30fps

PX_PER_M = 500.0


def calibration(fps: float = 30.0) -> Calibration:
    """Quiet standing at ``fps`` with 8 mm of foot noise."""
    return replace(calibration_30fps(), fps=fps)


ATHLETE_M = 1.80


def standing(foot_px: npt.NDArray[np.float64]) -> Calibration | None:
    """Quiet standing at 240 fps with these foot rows; the calibration it gives."""
    detector = QuietStandingDetector(ATHLETE_M)
    floor = 1000.0
    height_px = ATHLETE_M * PX_PER_M
    for k, foot in enumerate(foot_px):
        body = BodyMeasurement(
            com_x_px=500.0,
            com_y_px=floor - 0.56 * height_px,
            foot_y_px=float(foot),
            eye_y_px=floor - 0.936 * height_px,
            leg_length_px=0.49 * height_px,
            visibility=0.95,
            contact_y_px=float(foot),
        )
        calibration = detector.push(k / 240.0, body)
        if calibration is not None:
            return calibration
    return None


def test_a_stray_frame_does_not_set_the_standing_foot_noise() -> None:
    rng = np.random.default_rng(7)
    jitter_px = 0.003 * PX_PER_M  # 3 mm
    feet = 1000.0 + rng.normal(0.0, jitter_px, 73)
    feet[40] -= 12.0 * jitter_px  # heel and toe exchanged: 3.6 cm up for one frame
    cal = standing(feet)
    assert cal is not None
    assert cal.foot_noise_m == pytest.approx(jitter_px / PX_PER_M, rel=0.15)


def test_a_sliding_foot_stays_in_the_standing_foot_noise() -> None:
    rng = np.random.default_rng(8)
    jitter_px = 0.003 * PX_PER_M
    slide = np.linspace(0.0, 0.02 * PX_PER_M, 73)  # 2 cm in 0.3 s
    feet = 1000.0 - slide + rng.normal(0.0, jitter_px, 73)
    cal = standing(feet)
    assert cal is not None
    assert cal.foot_noise_m > 0.9 * float(np.std(feet)) / PX_PER_M


def fall_frames(touchdown_s: float, fps: float, stray: dict[int, float]) -> list[Frame]:
    """The end of a flight at ``fps``: feet falling ballistically onto the floor at
    ``touchdown_s`` (2 m/s), legs extended, and on it after; the CoM braking once they are
    down. ``stray`` adds centimetres to the foot reading of some frames (by index)."""
    legs_m, v_down, braking = 0.95, 2.0, 25.0
    out = []
    first = math.floor((touchdown_s - 0.3) * fps)
    for k in range(round(0.45 * fps)):
        t = (first + k) / fps
        dt = t - touchdown_s
        if dt < 0.0:
            com = legs_m - v_down * dt - 0.5 * GRAVITY_M_S2 * dt * dt
            velocity = -v_down - GRAVITY_M_S2 * dt
        else:
            com = legs_m - v_down * dt + 0.5 * braking * dt * dt
            velocity = -v_down + braking * dt
        foot = max(com - legs_m, 0.0) + stray.get(k, 0.0)
        com_standing = com - legs_m + 0.1
        out.append(Frame(k, t, com_standing, velocity, com_standing, foot, foot))
    return out


@pytest.mark.parametrize("share", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("before", [2, 3])
def test_a_foot_reading_high_before_the_touchdown_does_not_time_it(
    share: float, before: int
) -> None:
    """At 30 fps the lowest foot point reads 10 cm high two or three frames before the
    last one seen clearly above the floor (the far leg strayed up, the near foot's heel
    taken): the step down from it is the feet's fastest and the legs seem to shorten
    there, high in the air."""
    fps = 30.0
    touchdown = 1.0 + share / fps
    machine = CountermovementJump(calibration(fps))
    clean = fall_frames(touchdown, fps, {})
    last_air = max(k for k, f in enumerate(clean) if f.foot_m > machine.fit_threshold_m)
    frames = fall_frames(touchdown, fps, {last_air - before: 0.10})
    grounded = next(
        k
        for k in range(1, len(frames))
        if frames[k - 1].foot_m < machine.air_threshold_m
        and frames[k].foot_m < machine.air_threshold_m
    )
    machine.history.extend(frames[: grounded + 1])
    assert machine.refine_touchdown() == pytest.approx(touchdown, abs=1.0 / (3.0 * fps))


@pytest.mark.parametrize("fps", [120.0, 240.0])
def test_a_touchdown_seen_first_high_in_a_wide_threshold_is_extrapolated(fps: float) -> None:
    """With a noisy standing (air threshold 6 cm) the touchdown is seen with the feet still
    up to 6 cm above the floor, several frames early at these rates; the ballistic fit must
    reach the floor beyond that frame, not stop at it."""
    touchdown = 1.0 + 0.4 / fps
    frames = fall_frames(touchdown, fps, {})
    machine = CountermovementJump(calibration(fps))
    machine.air_threshold_m, machine.fit_threshold_m = 0.06, 0.036
    grounded = next(
        k
        for k in range(1, len(frames))
        if frames[k - 1].foot_m < machine.air_threshold_m
        and frames[k].foot_m < machine.air_threshold_m
    )
    machine.history.extend(frames[: grounded + 1])
    assert touchdown - frames[grounded].time_s > 2.0 / fps  # seen early
    provisional = frames[grounded - 1].time_s - 1e-6
    assert machine.refine_touchdown(provisional) == pytest.approx(touchdown, abs=1.0 / (3 * fps))


def drop_frames(fps: float, pause: tuple[float, float] | None) -> tuple[list[Frame], float]:
    """A drop from a 0.40 m box at ``fps``: standing still on it, stepping off (the CoM
    falling freely from 1.6 s), the feet 0.1 m below the CoM's fall's start and landing on
    the floor, then the CoM braking for 0.2 s. ``pause`` holds the foot reading at the
    height it had at ``pause[0]`` until ``pause[1]`` (a landmark pausing mid-fall). Also
    the true contact instant."""
    box, start = 0.40, 1.6
    contact = start + math.sqrt(2.0 * box / GRAVITY_M_S2)
    v_contact = GRAVITY_M_S2 * (contact - start)
    frames = []
    held: float | None = None
    for k in range(round(2.2 * fps)):
        t = k / fps
        if t < start:
            com, velocity, foot = 0.0, 0.0, 0.0
        elif t < contact:
            fall = 0.5 * GRAVITY_M_S2 * (t - start) ** 2
            com, velocity, foot = -fall, -GRAVITY_M_S2 * (t - start), -fall
        else:
            dt = min(t - contact, 0.2)
            com = -box - v_contact * dt + 0.5 * (v_contact / 0.2) * dt * dt
            velocity = -v_contact + (v_contact / 0.2) * dt
            foot = -box
        if pause is not None and pause[0] <= t < pause[1]:
            held = foot if held is None else held
            foot = held
        frames.append(Frame(k, t, com, velocity, com, foot, foot))
    return frames, contact


@pytest.mark.parametrize("fps", [60.0, 120.0, 240.0])
def test_a_foot_pausing_mid_drop_does_not_set_the_ground(fps: float) -> None:
    """The foot reading halts for 35 ms just below half the box's height while the body
    falls on freely: the ground is where the feet land and the CoM is braked (the pause's
    last readings lie in the touchdown's 60 ms fit window and may move it by a few
    milliseconds)."""
    clean, contact = drop_frames(fps, None)
    below_half = 1.6 + math.sqrt(2.0 * 0.2 / GRAVITY_M_S2) + 0.0005
    frames, _ = drop_frames(fps, (below_half, below_half + 0.035))
    for seen in (clean, frames):
        machine = DropJump(calibration(fps), 0.40)
        for frame in seen:
            machine.update(frame)
        assert machine.phase == "ground_contact"
        assert machine.ground_m == pytest.approx(-0.40, abs=0.005)
        assert machine.contact_s == pytest.approx(contact, abs=0.006)


def test_feet_instants_the_com_flight_contradicts_are_flagged() -> None:
    """A CMJ whose feet leave on time but read a touchdown 60 ms early (the CoM then
    14 cm above its height at takeoff, legs extended both times): the repetition carries
    ``feet_and_com_disagree`` and less confidence; one timed right carries neither."""
    results: dict[float, RepResult] = {}
    for early_s in (0.0, 0.06):
        machine = CountermovementJump(calibration())
        fps = machine.calibration.fps
        takeoff, flight = 1.0 + 0.3 / fps, 0.5
        v0 = GRAVITY_M_S2 * flight / 2.0
        legs_m = 0.95
        outputs: list[Output] = []
        for k in range(round(2.5 * fps)):
            t = k / fps
            dt = t - takeoff
            if dt < 0.0:
                com = legs_m + 0.1 + max(dt, -0.2) * v0  # rising through the push
                velocity = v0 if dt > -0.2 else 0.0
                foot = 0.0
            elif dt < flight:
                com = legs_m + 0.1 + v0 * dt - 0.5 * GRAVITY_M_S2 * dt * dt
                velocity = v0 - GRAVITY_M_S2 * dt
                foot = com - legs_m - 0.1
            else:
                com = legs_m + 0.1 - v0 * min(dt - flight, 0.1)
                velocity = -v0 if dt - flight < 0.1 else 0.0
                foot = 0.0
            if flight - early_s <= dt < flight:
                foot = 0.0  # the feet read on the floor early
            height = com - legs_m - 0.1
            outputs += machine.update(Frame(k, t, height, velocity, height, foot, foot))
        reps = [o for o in outputs if isinstance(o, RepResult)]
        assert len(reps) == 1, early_s
        results[early_s] = reps[0]
    on_time, early = results[0.0], results[0.06]
    assert "feet_and_com_disagree" not in on_time.warnings
    assert "feet_and_com_disagree" in early.warnings
    assert early.confidence < on_time.confidence
    assert v0 * 0.06 > FEET_COM_LEVEL_M  # the CoM's rise in 60 ms exceeds the limit


GROSS_S: Final = 0.05
"""A flight-time error beyond four stds of the realistic noise's timing error (13 ms, see
test_accuracy_realistic_noise.py)."""


def test_gross_flight_errors_under_realistic_noise_are_rare_or_flagged() -> None:
    """Sessions of all three jumps at 30-240 fps with MediaPipe-like noise, standing 0.6 s
    before moving (bench/bench_lead_in.py's sessions, seeds no threshold was set on):
    every true repetition is found, and at most 2 of the 48 are off by more than
    ``GROSS_S`` with no warning on the repetition (before these checks: 4)."""
    silent = []
    for sport in JUMPS:
        for fps in (30, 60, 120, 240):
            for seed in range(5000, 5004):
                trial = with_lead_in(session(sport, fps, seed, realistic=True), seed, 0.6)
                events = analyse(trial)
                truth = trial.reps[0]
                reps = [e.payload for e in events if e.event_type == "rep_complete"]
                match = [
                    p
                    for p in reps
                    if abs(p["metrics"]["takeoff_time_s"] - truth.takeoff_s) < MATCH_S
                ]
                assert match, (sport.value, fps, seed)
                error = match[0]["metrics"]["flight_time_s"] - truth.flight_time_s
                warned = set(match[0]["quality"]["warnings"]) - {"low_fps"}
                if abs(error) > GROSS_S and not warned:
                    silent.append((sport.value, fps, seed, round(1000 * error)))
    assert len(silent) <= 2, silent
