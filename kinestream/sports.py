"""The movements kinestream analyses, and the metrics each one reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Sport(StrEnum):
    """A movement with its own phase machine."""

    CMJ = "cmj"
    DROP_JUMP = "drop_jump"
    SQUAT_JUMP = "squat_jump"
    RUNNING = "running"


JUMPS: tuple[Sport, ...] = (Sport.CMJ, Sport.DROP_JUMP, Sport.SQUAT_JUMP)
"""The sports with repetitions (``rep_complete``); running has steps and bouts instead."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric a sport reports: its name (unit in the name), unit and meaning."""

    name: str
    unit: str
    description: str


_FLIGHT = (
    MetricSpec("flight_time_s", "s", "Time between takeoff and landing (sub-frame)."),
    MetricSpec("jump_height_m", "m", "Jump height from flight time, h = g*T^2/8."),
    MetricSpec(
        "jump_height_com_m", "m", "CoM rise from takeoff to the apex of the fitted flight parabola."
    ),
    MetricSpec("takeoff_velocity_m_s", "m/s", "Vertical takeoff velocity, g*T/2."),
    MetricSpec("takeoff_time_s", "s", "Capture time of takeoff (sub-frame)."),
    MetricSpec("landing_time_s", "s", "Capture time of landing (sub-frame)."),
)

METRICS: dict[Sport, tuple[MetricSpec, ...]] = {
    Sport.CMJ: (
        *_FLIGHT,
        MetricSpec("countermovement_depth_m", "m", "Standing CoM height minus lowest CoM."),
        MetricSpec("eccentric_duration_s", "s", "Movement onset to lowest CoM."),
        MetricSpec("concentric_duration_s", "s", "Lowest CoM to takeoff."),
        MetricSpec("peak_eccentric_velocity_m_s", "m/s", "Largest downward CoM speed (positive)."),
        MetricSpec("peak_concentric_velocity_m_s", "m/s", "Largest upward CoM speed."),
    ),
    Sport.DROP_JUMP: (
        *_FLIGHT,
        MetricSpec("ground_contact_time_s", "s", "First ground contact to takeoff."),
        MetricSpec("rsi", "m/s", "Reactive strength index: jump height / contact time."),
        MetricSpec("rsi_flight_contact", "1", "Flight time / ground contact time."),
        MetricSpec("box_height_m", "m", "Box height given at session start."),
        MetricSpec("drop_time_s", "s", "Capture time the athlete left the box."),
        MetricSpec("drop_height_measured_m", "m", "Box top to ground, measured on video."),
    ),
    Sport.SQUAT_JUMP: (
        *_FLIGHT,
        MetricSpec("squat_depth_m", "m", "Standing CoM height minus CoM in the held squat."),
        MetricSpec("squat_hold_s", "s", "Duration of the static squat before the push."),
        MetricSpec("concentric_duration_s", "s", "Start of the push to takeoff."),
        MetricSpec(
            "countermovement_m", "m", "Dip below the held squat before the push (0 if none)."
        ),
        MetricSpec("countermovement_detected", "bool", "True when the dip exceeds 1 cm."),
        MetricSpec("peak_concentric_velocity_m_s", "m/s", "Largest upward CoM speed."),
    ),
    Sport.RUNNING: (
        MetricSpec("strike_time_s", "s", "Step: capture time of the foot strike (sub-frame)."),
        MetricSpec("toe_off_time_s", "s", "Step: capture time of the toe-off (sub-frame)."),
        MetricSpec("contact_time_s", "s", "Ground contact time: strike to toe-off."),
        MetricSpec("flight_time_s", "s", "Flight before the strike: other foot's toe-off to it."),
        MetricSpec("step_time_s", "s", "Other foot's strike to this strike."),
        MetricSpec("step_length_m", "m", "Speed times step time (None without a scale)."),
        MetricSpec("speed_m_s", "m/s", "Belt speed given, else measured on video."),
        MetricSpec("foot_visibility", "0-1", "Mean landmark visibility of the foot in contact."),
        MetricSpec("low_confidence", "bool", "The far foot, or a foot hidden in the contact."),
        MetricSpec("cadence_spm", "steps/min", "Gait update and bout: steps per minute."),
        MetricSpec("duty_factor", "1", "Gait update and bout: contact time / stride time."),
        MetricSpec("left_contact_time_s", "s", "Gait update and bout: left contacts' mean."),
        MetricSpec("right_contact_time_s", "s", "Gait update and bout: right contacts' mean."),
        MetricSpec(
            "contact_time_asymmetry_pct",
            "%",
            "Gait update and bout: 100*(left-right)/mean of both; positive: left longer.",
        ),
    ),
}

BOUT_FIGURES: Final[tuple[str, ...]] = (
    "cadence_spm",
    "contact_time_s",
    "flight_time_s",
    "step_time_s",
    "duty_factor",
    "left_contact_time_s",
    "right_contact_time_s",
    "contact_time_asymmetry_pct",
    "step_length_m",
    "speed_m_s",
)
"""The figures of a running bout's summary (``bout_summary``), in the order they are shown
and stored."""
