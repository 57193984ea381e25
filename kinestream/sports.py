"""The movements kinestream analyses, and the metrics each one reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Sport(StrEnum):
    """A movement with its own phase machine."""

    CMJ = "cmj"
    DROP_JUMP = "drop_jump"
    SQUAT_JUMP = "squat_jump"


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
}
