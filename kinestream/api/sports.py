"""``/sports``: the movements, their metrics, how to film them, and the pose model."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter

from kinestream.api.models import Metric, PoseModel, SportInfo, SportsCatalogue
from kinestream.operators.mediapipe_pose import MODEL_COMPLEXITY
from kinestream.operators.pose import NUM_LANDMARKS
from kinestream.operators.quality import RECOMMENDED_FPS
from kinestream.sports import METRICS, Sport

router = APIRouter(prefix="/sports", tags=["sports"])

MEDIAPIPE_VERSION: Final = "0.10.21"

_VIEW: Final = (
    "side view: the camera looks at the athlete's side, perpendicular to the jump",
    "level camera, fixed (tripod): no panning, tilting or zooming",
    "the whole body in frame, feet included, for the whole session",
    "about one second of quiet, upright standing in full view first: it sets the floor and"
    " the scale",
    f"{RECOMMENDED_FPS:.0f} fps or more: below it takeoff and landing are interpolated between"
    " frames further apart (each repetition's quality says low_fps)",
)
_VIEW_EXTRA: Final[dict[Sport, tuple[str, ...]]] = {
    Sport.DROP_JUMP: ("stand still on the box first; the box fully in frame",),
    Sport.SQUAT_JUMP: ("hold the squat still before the push",),
}


def _catalogue() -> SportsCatalogue:
    return SportsCatalogue(
        pose_model=PoseModel(
            name="MediaPipe Pose",
            version=MEDIAPIPE_VERSION,
            model_complexity=MODEL_COMPLEXITY,
            landmarks=NUM_LANDMARKS,
        ),
        sports=[
            SportInfo(
                sport=sport,
                metrics=[
                    Metric(name=m.name, unit=m.unit, description=m.description)
                    for m in METRICS[sport]
                ],
                box_height_required=sport is Sport.DROP_JUMP,
                view=[*_VIEW, *_VIEW_EXTRA.get(sport, ())],
                recommended_fps=RECOMMENDED_FPS,
            )
            for sport in Sport
        ],
    )


_CATALOGUE: Final = _catalogue()


@router.get("", summary="List the sports")
async def list_sports() -> SportsCatalogue:
    """Each sport's metrics (name, unit, meaning), how to record it, and the pose model.

    Public: no API key needed.
    """
    return _CATALOGUE
