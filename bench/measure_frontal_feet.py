"""How MediaPipe places the feet of a jumper filmed from the front while the toes are down.

At each labelled contact frame of a frontal jump in ``examples/footage/labels.csv`` (the
last frame with a foot on the surface at a takeoff, the first at a landing; the jumps whose
``view`` is ``frontal``), and for each foot: how far the toe landmark (foot_index) and the
ankle stand above where they were with the foot down flat (their lowest image row in the
``FLAT_SEARCH_S`` before the takeoff or after the landing), while the toes are still on the
surface. Their ratio is the share of the ankle's rise (the heel's rise about the toes) that
the toe landmark follows: 0 where the model sees the foot's pitch, 1 where it moves the
foot rigidly with the ankle. Also the lowest foot point's rise, what a contact is timed by,
in standing body heights, and the trunk's width ratio
(:func:`kinestream.operators.view.width_ratios`) over those jumps and over the clip.

``.venv/bin/python -m bench.measure_frontal_feet`` (``results/frontal_feet.txt``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

import numpy as np

from bench.bench_footage import read_labels
from bench.measure_landmark_noise import DEMO_CLIP, Array, Track, athlete_track
from kinestream.operators.pose import Landmark
from kinestream.operators.view import width_ratios

LABELS: Final = Path(__file__).resolve().parents[1] / "examples" / "footage" / "labels.csv"
FLAT_SEARCH_S: Final = 0.5
FEET: Final = {
    "left": (Landmark.LEFT_ANKLE, Landmark.LEFT_FOOT_INDEX),
    "right": (Landmark.RIGHT_ANKLE, Landmark.RIGHT_FOOT_INDEX),
}


def rise_px(track: Track, rows: Array, frame: int, after: bool) -> float:
    """How far above its lowest image row in the ``FLAT_SEARCH_S`` before clip frame
    ``frame`` (or ``after`` it) a point whose row on each track frame is ``rows`` stands at
    that frame, in pixels."""
    i = frame - track.first_frame
    span = max(1, round(FLAT_SEARCH_S * track.fps))
    window = slice(i + 1, i + 1 + span) if after else slice(max(0, i - span), i)
    return float(rows[window].max() - rows[i])


def rises(track: Track, frame: int, after: bool) -> dict[str, tuple[float, float]]:
    """Per foot, the ankle's and the toe landmark's :func:`rise_px`."""
    y = track.xy[:, :, 1]
    return {
        side: (rise_px(track, y[:, ankle], frame, after), rise_px(track, y[:, toe], frame, after))
        for side, (ankle, toe) in FEET.items()
    }


def lowest_point_rise(track: Track, frame: int, after: bool) -> float:
    """:func:`rise_px` of the lowest foot point as the analysis takes it (heels and toes
    each merged over both feet, the lower of the two)."""
    y = track.xy[:, :, 1]
    heel = 0.5 * (y[:, Landmark.LEFT_HEEL] + y[:, Landmark.RIGHT_HEEL])
    toe = 0.5 * (y[:, Landmark.LEFT_FOOT_INDEX] + y[:, Landmark.RIGHT_FOOT_INDEX])
    return rise_px(track, np.fmax(heel, toe), frame, after)


def trunk_ratios(track: Track, frames: range) -> list[float]:
    """The trunk width ratio of each of ``frames`` (clip frames) where the trunk is seen."""
    rows = [f - track.first_frame for f in frames if 0 <= f - track.first_frame < len(track.xy)]
    depth = np.zeros((len(rows), track.xy.shape[1], 1))
    landmarks = np.concatenate([track.xy[rows], depth, track.visibility[rows, :, None]], axis=2)
    ratios = width_ratios(landmarks, np.ones((len(rows), 2)))
    return [r for r in ratios if r is not None]


def main(argv: list[str] | None = None) -> None:
    """Print the measurements for ``--clip`` (default: the Sports2D demo clip)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clip", type=Path, default=DEMO_CLIP)
    parser.add_argument("--labels", type=Path, default=LABELS)
    args = parser.parse_args(argv)
    labels = [
        label
        for label in read_labels(args.labels)
        if label.clip == args.clip.name and label.view == "frontal"
    ]
    track = athlete_track(args.clip)
    bh = track.body_height_px
    print(f"clip {args.clip.name}: {len(labels)} frontal jumps labelled; body height {bh:.1f} px")
    print("frame  instant  foot   ankle px  toe px  toe/ankle")
    shares, lowest = [], []
    for label in labels:
        for frame, after, instant in (
            (label.takeoff_frame, False, "takeoff"),
            (label.landing_frame, True, "landing"),
        ):
            for side, (ankle, toe) in rises(track, frame, after).items():
                share = toe / ankle if ankle > 0.02 * bh else float("nan")
                print(f"{frame:5d}  {instant:7}  {side:5}  {ankle:8.1f}  {toe:6.1f}  {share:9.2f}")
                if share == share:
                    shares.append(share)
            lowest.append(lowest_point_rise(track, frame, after) / bh)
    print(
        f"toe landmark's share of the ankle's rise with the toes down: median "
        f"{np.median(shares):.2f} over {len(shares)} feet (quartiles "
        f"{np.percentile(shares, 25):.2f}-{np.percentile(shares, 75):.2f})"
    )
    print(
        f"lowest foot point (both feet merged, as analysed) above the flat feet's at the "
        f"contact frames: median {np.median(lowest):.4f} body heights over {len(lowest)} "
        f"instants (quartiles {np.percentile(lowest, 25):.4f}-{np.percentile(lowest, 75):.4f})"
    )
    over_jumps = trunk_ratios(
        track,
        range(min(la.takeoff_frame for la in labels), max(la.landing_frame for la in labels) + 1),
    )
    whole = trunk_ratios(track, range(track.first_frame, track.first_frame + len(track.xy)))
    print(
        f"trunk width ratio over the frontal jumps: median {np.median(over_jumps):.2f} "
        f"(quartiles {np.percentile(over_jumps, 25):.2f}-{np.percentile(over_jumps, 75):.2f}); "
        f"over the whole track: quartiles {np.percentile(whole, 25):.2f}-"
        f"{np.percentile(whole, 75):.2f}"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
