"""The kinds of everyday phone footage: frontal view, variable frame timing, a handheld
camera tilting up with the jumper, a clip that starts in the squat.

Ground truth is the simulator's exact takeoff and landing. Tolerances:

* frontal view with phone timing at 30 fps: as test_lead_in's phone timing, flight time
  within 10 ms (a third of the nominal frame period) and jump height within 1.5 cm; the
  feet's heights are those seen from the side but for the toe landmark, which rises with
  the ankle as MediaPipe places it from the front, and which the analysis times against
  the level of a foot on its toes seen from the front;
* handheld camera following 30 % of the jump: the floor moves in the image while the feet
  are in the air, where no landmark shows the camera's motion. The touchdown is found
  where the falling feet stop; the floor still moves between the last frame in the air
  and the one where they stop, two frame periods at up to 0.3 x 3 m/s (the hips' fastest)
  = 0.9 m/s against feet landing at 2 m/s or more, 0.9 of a frame period; with a steady
  camera's quarter frame, a flight time within 1.15 frame periods. A floor that moved
  less than the air threshold (2 cm) cannot be told from landmark noise, 10 ms at the
  slowest landing: beyond the steady camera's bound plus those 10 ms, ``camera_moved``
  must be warned;
* a toe-off rolled over the toes, as MediaPipe shows it on real footage: its toe landmark
  (foot_index) rises with the heel as the ankle extends, centimetres before the toes leave
  (on the committed Sports2D clip at the last frame of contact it stood 0.46-1.04 of the
  heel's rise above its standing level, median 0.59). Modelled as a landmark fixed on the
  foot 0.6 of the way from the toe tip to the heel up to takeoff.
  The feet then seem to leave up to 1.4 frame periods early at 30 fps and 4.9 at 60 fps;
  the flight's CoM parabola, mirrored about its apex from the landing, must put the takeoff
  within a quarter of the frame period. Rolled at the landing as well (the toe landmark
  jumps up the foot as the forefoot lands, the lowest foot point stops falling or rises
  while the CoM falls), the feet's touchdown came up to 1.5 frame periods late at 30 fps
  and 4.1 at 60 fps, and the mirrored takeoff as early; both must come within half a frame
  period at 30 fps (real clips are judged within a frame) and a quarter at 60;
* starting in a held squat and ending 0.25 s after landing, never standing: the
  calibration comes from the flight's parabola (``calibrated_without_standing``), and
  flight time as in test_accuracy, a quarter of the frame period; also when the clip goes
  on for longer than the 6 s look-back without standing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from bench.bench_lead_in import phone_timing, session, with_lead_in
from bench.bench_phone import HANDHELD, filmed, session_errors
from kinestream.events import AnalysisEvent
from kinestream.operators.pose import Landmark
from kinestream.simulation.camera import film, frame_times
from kinestream.simulation.scenarios import Trial, walking_landmarks
from kinestream.sports import JUMPS, Sport
from tests.operators.test_accuracy import analyse, timing_tolerance_s

SEED = 2024


def reps(events: list[AnalysisEvent]) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.event_type == "rep_complete"]


def warnings(events: list[AnalysisEvent]) -> set[str]:
    return {str(e.payload["code"]) for e in events if e.event_type == "quality_warning"}


@pytest.mark.parametrize("sport", JUMPS)
def test_frontal_view_with_phone_timing_at_30_fps(sport: Sport) -> None:
    for seed in (SEED, SEED + 1):
        with phone_timing():
            trial = with_lead_in(session(sport, 30, seed, view="frontal"), seed, 0.6)
        found = reps(analyse(trial))
        assert len(found) == 1
        metrics, quality = found[0]["metrics"], found[0]["quality"]
        truth = trial.reps[0]
        assert metrics["flight_time_s"] == pytest.approx(truth.flight_time_s, abs=0.010)
        assert metrics["jump_height_m"] == pytest.approx(truth.jump_height_m, abs=0.015)
        assert quality["view"] == "frontal"
        assert "jump_height_com_m" in quality["unreliable_metrics"]


@pytest.mark.parametrize("sport", JUMPS)
@pytest.mark.parametrize("fps", [30, 60])
def test_a_handheld_camera_tilting_with_the_jump_is_followed_or_warned(
    sport: Sport, fps: int
) -> None:
    for seed in (SEED, SEED + 1, SEED + 2):
        trial = session(sport, fps, seed, tilt_follow=0.3)
        events = analyse(trial)
        found = reps(events)
        assert len(found) == 1
        error = abs(found[0]["metrics"]["flight_time_s"] - trial.reps[0].flight_time_s)
        assert error <= 1.15 / fps
        if error > timing_tolerance_s(fps) + 0.010:
            assert "camera_moved" in warnings(events)


HELD_OUT_SEEDS = range(7000, 7010)


def instant_errors(sport: Sport, fps: int, seeds: range, instant: str) -> list[float]:
    """|found - true| ``instant`` (``takeoff`` or ``landing``), in frame periods, of each
    rep that is the jump of the everyday phone footage (:data:`bench.bench_phone.HANDHELD`:
    frontal, handheld, phone frame timing, MediaPipe-like noise, no standing before it)."""
    errors: list[float] = []
    for seed in seeds:
        trial = filmed(HANDHELD, sport, fps, seed)
        found = session_errors(trial.reps, analyse(trial), fps)
        errors += map(abs, found.takeoff_frames if instant == "takeoff" else found.landing_frames)
    return errors


@pytest.mark.parametrize("sport", [Sport.CMJ, Sport.SQUAT_JUMP])
def test_noisy_feet_land_where_they_stop_under_a_tilting_camera(sport: Sport) -> None:
    """Everyday phone footage at 60 fps: filmed from the front, handheld (tilting up with
    30 % of the jump), phone frame timing, no standing before the jump, MediaPipe-like
    noise. That noise sets the air threshold near 7 cm, so falling feet count as down that
    far above the surface, which the tilted camera shows up to 10 cm lower by then: a
    touchdown timed there came 2.5-2.8 frame periods early on 3 of these 10 CMJs (up to 4
    on other seeds). The feet meet the surface where they stop falling: at most three
    landings in ten more than a frame period off, two by more than 1.5 and none by more
    than 3 (measured: 1.14 and 2.64 on the CMJs, 1.22, 1.57 and 1.76 on the squat jumps: a
    foot landmark's stray at the contact frame, and from the front the toe landmark, which
    rises with the ankle, coming down through the toe stand's level while the camera still
    tilts). A squat jump may be lost to a false takeoff in its push-off
    (``rejected_flight``; none of these ten now).
    """
    off = instant_errors(sport, 60, HELD_OUT_SEEDS, "landing")
    assert len(off) >= len(HELD_OUT_SEEDS) - 1
    assert sum(error > 1.0 for error in off) <= 3, off
    assert sum(error > 1.5 for error in off) <= 2, off
    assert max(off) <= 3.0, off


@pytest.mark.parametrize("sport", JUMPS)
def test_every_jump_of_the_phone_footage_is_found_once(sport: Sport) -> None:
    """The same phone footage at 60 fps: each session gives its jump, and only it. A body
    leaves the ground rising at g times half its flight time, at least
    ``TAKEOFF_SPEED_M_S`` for the shortest flight counted: feet that drifted up off a
    stale floor level while the CoM rose slower were no takeoff (a squat jump's push-off
    read as a flight, rejected once the CoM left no parabola, lost the jump that followed).
    """
    for seed in HELD_OUT_SEEDS:
        trial = filmed(HANDHELD, sport, 60, seed)
        found = session_errors(trial.reps, analyse(trial), 60)
        assert (len(found.takeoff_frames), found.extra) == (1, 0), seed


def landed_farther(trial: Trial, shift_bh: float) -> Trial:
    """``trial`` with the athlete travelling away from the camera during the flight: every
    landmark rises in the image by up to ``shift_bh`` body heights, in proportion to the
    time since takeoff, and stays there after the landing."""
    truth = trial.reps[0]
    shift_px = shift_bh * trial.athlete_height_m * trial.camera.px_per_m
    flight_s = truth.landing_s - truth.takeoff_s
    samples = []
    for sample in trial.samples:
        if sample.landmarks is not None:
            share = min(max((sample.timestamp_s - truth.takeoff_s) / flight_s, 0.0), 1.0)
            landmarks = sample.landmarks.copy()
            landmarks[:, 1] -= share * shift_px / sample.image_height
            sample = replace(sample, landmarks=landmarks)
        samples.append(sample)
    return replace(trial, samples=samples)


@pytest.mark.parametrize("fps", [30, 60])
def test_a_jump_landing_farther_from_the_camera_is_found(fps: int) -> None:
    """Filmed from the front by a phone 3 m away at hip height, an athlete who lands 25 cm
    farther away lands on a floor that reads 0.05 body heights higher in the image
    (1 m x 0.25 m / (3 m x 1.75 m)). Feet that stop that far above the floor they left,
    with MediaPipe-like noise on them, were seen neither on the surface nor stopping
    near it: the flight ran on until it was rejected, and 8 of 60 jumps were lost over
    seeds 9600-9609 (3 of these 30). The CoM shows the landing: nothing slows a fall in
    the air. Every jump is found, once; at least half within a frame period at
    both instants and none more than three off (measured over seeds 9600-9609, all three
    jumps: 20 of 30 within a frame at 30 fps, 24 of 30 at 60; 2.65 frame periods at most).
    """
    off = []
    for sport in JUMPS:
        for seed in range(9600, 9605):
            trial = landed_farther(filmed(HANDHELD, sport, fps, seed), 0.05)
            errors = session_errors(trial.reps, analyse(trial), fps)
            assert (len(errors.takeoff_frames), errors.extra) == (1, 0), (sport, seed)
            off.append(max(abs(errors.takeoff_frames[0]), abs(errors.landing_frames[0])))
    assert sum(error <= 1.0 for error in off) >= len(off) / 2, off
    assert max(off) <= 3.0, off


FOOT_LANDMARKS = [
    Landmark.LEFT_ANKLE,
    Landmark.RIGHT_ANKLE,
    Landmark.LEFT_HEEL,
    Landmark.RIGHT_HEEL,
    Landmark.LEFT_FOOT_INDEX,
    Landmark.RIGHT_FOOT_INDEX,
]


def feet_stuck(trial: Trial, before_landing_s: float, frames: int = 2) -> Trial:
    """``trial`` with the feet's landmarks held where they were seen ``before_landing_s``
    before the landing for the next ``frames`` frames (a pose model's landmarks lagging a
    fast foot, as on the committed clip recompressed at JPEG quality 70)."""
    landing_s = trial.reps[0].landing_s
    samples = list(trial.samples)
    first = next(
        i
        for i, s in enumerate(samples)
        if s.landmarks is not None and s.timestamp_s >= landing_s - before_landing_s
    )
    held = samples[first].landmarks
    assert held is not None
    for i in range(first + 1, first + 1 + frames):
        landmarks = samples[i].landmarks
        if landmarks is None or samples[i].timestamp_s >= landing_s:
            break
        landmarks = landmarks.copy()
        landmarks[FOOT_LANDMARKS] = held[FOOT_LANDMARKS]
        samples[i] = replace(samples[i], landmarks=landmarks)
    return replace(trial, samples=samples)


@pytest.mark.parametrize("fps", [30, 60])
def test_feet_stuck_in_the_air_while_the_body_falls_are_no_touchdown(fps: int) -> None:
    """Everyday phone footage whose feet's landmarks stick for two frames 0.12 s before
    the landing: the lowest foot point falls, then seems to stop some centimetres above
    the floor. Taken for a surface that reads higher, it ended flights up to 5 frame
    periods early at 30 fps and 10 at 60 (seeds 9700-9709, all three jumps). The CoM still
    fell freely then (its velocity dropping by g per second), and nothing stands on a
    surface while falling so. No landing more than 1.5 frame periods early (measured over
    those seeds: 1.44 at most).
    """
    landings: list[float] = []
    for sport in JUMPS:
        for seed in range(9700, 9705):
            trial = feet_stuck(filmed(HANDHELD, sport, fps, seed), 0.12)
            landings += session_errors(trial.reps, analyse(trial), fps).landing_frames
    assert len(landings) >= 14
    assert min(landings) >= -1.5, landings


def test_a_clip_cut_right_after_the_landing_gives_the_jump() -> None:
    """Everyday phone footage at 30 fps that ends 0.05 s after the landing: one frame shows
    the feet back on the surface, where a landing is confirmed on two, and every session
    ended ``ended_in_flight`` without its jump (15 of 15 here). At the end of the input
    the last frame is enough: the rep says so (``ended_at_landing``), and both instants
    lie within 1.5 frame periods (measured: 14 of 15 found, the landing 1.3 frame periods
    early at most; the camera tilting with the jump still moves the floor then)."""
    found = 0
    for sport in JUMPS:
        for seed in range(9900, 9905):
            trial = filmed(HANDHELD, sport, 30, seed)
            end_s = trial.reps[0].landing_s + 0.05
            trial = replace(trial, samples=[s for s in trial.samples if s.timestamp_s <= end_s])
            events = analyse(trial)
            errors = session_errors(trial.reps, events, 30)
            for takeoff, landing in zip(errors.takeoff_frames, errors.landing_frames, strict=True):
                assert abs(takeoff) <= 1.5, (sport, seed)
                assert abs(landing) <= 1.5, (sport, seed)
                assert "ended_at_landing" in reps(events)[0]["quality"]["warnings"]
                found += 1
    assert found >= 14


@pytest.mark.parametrize("sport", JUMPS)
def test_feet_seen_from_the_front_are_timed_at_the_toe_stand(sport: Sport) -> None:
    """The phone footage at 30 fps, filmed from the front: the toe landmark rises with the
    ankle as the heel comes up (``FRONTAL_TOE_SHARE`` of its rise, as MediaPipe places it),
    so the lowest foot point reads some 0.044 body heights above the floor while the toes
    are still on it. Timed by the feet leaving and reaching the surface, the takeoffs came
    0.9-1.0 frame periods early and the landings 0.7-1.1 late (medians over seeds
    9300-9339). Timed where the feet cross the toe stand's level (``TOE_STAND_LIFT``): both
    medians within 0.4 of a frame period, at most three reps in ten more than a frame
    period off at either instant, none by more than two (on these seeds 3, 0 and 0 CMJs,
    drop and squat jumps; 2, 1 and 0 of 40 on seeds 9300-9339).
    """
    takeoffs: list[float] = []
    landings: list[float] = []
    for seed in range(9400, 9410):
        trial = filmed(HANDHELD, sport, 30, seed)
        found = session_errors(trial.reps, analyse(trial), 30)
        takeoffs += found.takeoff_frames
        landings += found.landing_frames
    assert len(takeoffs) >= 9
    assert abs(float(np.median(takeoffs))) <= 0.4, takeoffs
    assert abs(float(np.median(landings))) <= 0.4, landings
    off = [max(abs(t), abs(la)) for t, la in zip(takeoffs, landings, strict=True)]
    assert sum(error > 1.0 for error in off) <= 3, off
    assert max(off) <= 2.0, off


def test_feet_that_stop_a_little_below_the_surface_land_there() -> None:
    """The same phone footage at 30 fps. The tilted camera shows the floor lower by the
    landing, often by less than the air threshold (the feet's noise sets it at 2-9 cm),
    where no ``camera_moved`` is warned: timed against the surface the feet left, the CMJ
    landings came 1.1-1.9 frame periods early on 3 of these 10 sessions (6 of 40 on seeds
    9000-9039). The feet meet the surface where they stop, once that is below the one they
    left by more than the fit threshold: at most one landing in ten more than a frame
    period off, none by more than 1.5 (none measured).
    """
    off = instant_errors(Sport.CMJ, 30, range(9010, 9020), "landing")
    assert len(off) >= 9
    assert sum(error > 1.0 for error in off) <= 1, off
    assert max(off) <= 1.5, off


def test_feet_seen_up_while_the_body_still_pushes_are_no_takeoff() -> None:
    """The same phone footage, CMJs at 60 fps. Late in the push-off a planted foot's
    landmarks can read 5-10 cm up for 0.1-0.2 s (a slide, a far leg astray) while the CoM
    still rises faster and faster, which no body in the air does: taken for the takeoff,
    they put it 0.2-0.25 s early on 2 of these 30 sessions. A flight begins where the
    push-off ends, at the CoM's fastest rise, when that comes more than
    ``PUSH_OFF_SLACK_S`` after the feet seemed to leave: no rep with its takeoff 0.15 s or
    more from the true one, and at most one jump in 30 lost (a false takeoff just before).
    """
    found = wrong = 0
    for seed in range(9100, 9130):
        trial = filmed(HANDHELD, Sport.CMJ, 60, seed)
        errors = session_errors(trial.reps, analyse(trial), 60)
        found += len(errors.takeoff_frames)
        wrong += errors.extra
    assert wrong == 0
    assert found >= 29


def test_a_foot_landmark_hovering_before_takeoff_is_still_on_the_ground() -> None:
    """The same phone footage at 30 fps. A planted foot's landmark slides and jitters a
    centimetre or two above the floor for frames on end, above the fit threshold that the
    feet's frame-to-frame jitter sets: taken for the feet in the air, it put CMJ takeoffs
    up to 3.6 frame periods early. Feet leave the surface rising at takeoff speed: at most
    one takeoff in ten more than a frame period off, none by more than 1.5 (1.1 measured).
    """
    off = instant_errors(Sport.CMJ, 30, HELD_OUT_SEEDS, "takeoff")
    assert len(off) == len(HELD_OUT_SEEDS)
    assert sum(error > 1.0 for error in off) <= 1, off
    assert max(off) <= 1.5, off


TOE_LANDMARK_FROM_TIP = 0.6
"""Where the toe landmark sits on a rolling foot, as a share of the way from toe tip to heel."""


def rolled_toe_off(trial: Trial, landing: bool = False) -> Trial:
    """``trial`` with its toe landmarks fixed on the foot ``TOE_LANDMARK_FROM_TIP`` of the
    way to the heel until takeoff (and from the landing on, with ``landing``), so that they
    rise with the heel as a real toe-off's do (and the heel's fall as a forefoot lands)."""
    takeoff, touchdown = trial.reps[0].takeoff_s, trial.reps[0].landing_s
    samples = []
    for sample in trial.samples:
        on_ground = sample.timestamp_s < takeoff or (landing and sample.timestamp_s > touchdown)
        if sample.landmarks is not None and on_ground:
            landmarks = sample.landmarks.copy()
            for heel, toe in (
                (Landmark.LEFT_HEEL, Landmark.LEFT_FOOT_INDEX),
                (Landmark.RIGHT_HEEL, Landmark.RIGHT_FOOT_INDEX),
            ):
                landmarks[toe, :2] += TOE_LANDMARK_FROM_TIP * (
                    landmarks[heel, :2] - landmarks[toe, :2]
                )
            sample = replace(sample, landmarks=landmarks)
        samples.append(sample)
    return replace(trial, samples=samples)


@pytest.mark.parametrize("sport", JUMPS)
@pytest.mark.parametrize("fps", [30, 60])
def test_a_toe_off_rolled_over_the_toes_is_timed_from_the_flight(sport: Sport, fps: int) -> None:
    for seed in (SEED, SEED + 1):
        trial = rolled_toe_off(session(sport, fps, seed))
        found = reps(analyse(trial))
        assert len(found) == 1
        truth = trial.reps[0]
        assert found[0]["metrics"]["takeoff_time_s"] == pytest.approx(
            truth.takeoff_s, abs=0.25 / fps
        )


@pytest.mark.parametrize("sport", JUMPS)
@pytest.mark.parametrize("fps", [30, 60])
def test_feet_rolled_at_takeoff_and_landing_are_timed_within_a_frame(
    sport: Sport, fps: int
) -> None:
    for seed in (SEED, SEED + 1, SEED + 2):
        trial = rolled_toe_off(session(sport, fps, seed), landing=True)
        found = reps(analyse(trial))
        assert len(found) == 1
        metrics, truth = found[0]["metrics"], trial.reps[0]
        # Real clips are judged within a frame; over 11 seeds both instants came within 0.2
        # of a frame at 30 fps and 0.1 at 60.
        tolerance = (0.5 if fps < 60 else 0.25) / fps
        assert metrics["takeoff_time_s"] == pytest.approx(truth.takeoff_s, abs=tolerance)
        assert metrics["landing_time_s"] == pytest.approx(truth.landing_s, abs=tolerance)


@pytest.mark.parametrize("fps", [30, 60, 240])
def test_a_clip_that_starts_in_the_squat_gives_the_flight(fps: int) -> None:
    trial = session(Sport.SQUAT_JUMP, fps, SEED)
    truth = trial.reps[0]
    assert truth.push_start_s is not None
    start, end = truth.push_start_s - 0.5, truth.landing_s + 0.25  # mid-hold to landing
    cut = replace(trial, samples=[s for s in trial.samples if start <= s.timestamp_s <= end])
    found = reps(analyse(cut))
    assert len(found) == 1
    metrics, quality = found[0]["metrics"], found[0]["quality"]
    assert metrics["flight_time_s"] == pytest.approx(
        truth.flight_time_s, abs=timing_tolerance_s(fps)
    )
    assert "calibrated_without_standing" in quality["warnings"]


@pytest.mark.parametrize("sport", JUMPS)
def test_a_frontal_clip_calibrated_on_a_crouch_is_timed_at_the_toe_stand(sport: Sport) -> None:
    """Filmed from the front from the first movement on, the stream calibrates on the squat
    (the thigh foreshortened towards the camera, the legs read short, the scale 17-31 %
    off). The toe stand's level is sized by the legs as they are seen extended, not by the
    athlete's height at that scale (with which the flights came 13-23 ms long at 60 fps):
    flight time within a quarter frame period at 60 fps.
    """
    for seed in range(1000, 1005):
        trial = with_lead_in(session(sport, 60, seed, view="frontal"), seed, 0.0)
        found = reps(analyse(trial))
        assert len(found) == 1, seed
        assert found[0]["metrics"]["flight_time_s"] == pytest.approx(
            trial.reps[0].flight_time_s, abs=timing_tolerance_s(60)
        ), seed


def test_a_jump_without_standing_is_found_in_a_clip_longer_than_the_look_back() -> None:
    # The clip above, then 7 s of walking about (the look-back keeps 6 s): the flight must
    # give the calibration before it leaves the look-back.
    trial = session(Sport.SQUAT_JUMP, 60, SEED)
    truth = trial.reps[0]
    assert truth.push_start_s is not None
    start, end = truth.push_start_s - 0.5, truth.landing_s + 0.25
    jump = [s for s in trial.samples if start <= s.timestamp_s <= end]
    rng = np.random.default_rng(SEED)
    times = frame_times(end + 1.0 / 60, end + 7.0, 60.0, rng)
    walk = film(times, walking_landmarks(times, 0.0, 0.3), trial.camera, rng)
    first = jump[-1].seq + 1
    samples = jump + [replace(s, seq=first + k) for k, s in enumerate(walk)]
    events = analyse(replace(trial, samples=samples))
    found = reps(events)
    assert len(found) == 1
    assert found[0]["metrics"]["flight_time_s"] == pytest.approx(
        truth.flight_time_s, abs=timing_tolerance_s(60)
    )
    assert "calibrated_without_standing" in found[0]["quality"]["warnings"]
