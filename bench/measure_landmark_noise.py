"""Measure MediaPipe Pose's landmark noise on real footage (figures, not a test).

Runs MediaPipe Pose as ``kinestream analyze`` does (video mode, 1280 px long side) on
``examples/footage/sports2d_demo.mp4`` and measures, on the athlete only (the man on the box:
the longest track :class:`~kinestream.operators.athlete_lock.AthleteLock` keeps, which
excludes the walker), what :mod:`kinestream.simulation.noise` models:

* jitter: on still stretches (the body's 5-frame mean CoM slower than ``STILL_SPEED`` body
  heights per second for at least ``MIN_STILL_FRAMES`` frames), each landmark's residual from
  a straight line fitted over the stretch. Std in px and as a share of the standing body
  height (floor to eyes / 0.936); its autocorrelation at lags 1-3 frames, and the AR(1)
  coefficient and correlation time that reproduce the lag-1 value through the same
  stretches and detrending (short detrended stretches bias the autocorrelation low: the
  figures for white noise through the same pipeline are printed beside them); the share of
  the variance common to the whole body (the per-frame mean residual of the core landmarks)
  against what independent noise would give;
* foot sliding: on planted stretches (heel within ``PLANTED_BAND`` body heights of the box
  top, ankle slower than ``STILL_SPEED``, at least ``MIN_STILL_FRAMES`` frames), how far the
  3-frame median of heel and toe drifts from where the stretch began; beside it, the same
  figure for the heel/toe jitter measured on those stretches alone (simulated), and
  the slow slide that, added to that jitter, reproduces the measured median;
* heel/toe confusion: frames whose heel-to-toe vector points more than 90 degrees away from
  its median direction over the 9 frames around it;
* left/right swaps: frames where, with the legs ``SWAP_APART`` apart, exchanging the left
  and right leg landmarks matches the previous frame at least twice as well as keeping
  them; one-leg strays: a leg's landmarks jumping ``STRAY_MOVE`` from where both legs were
  while the other leg stays, with their size and the ankle's visibility;
* visibility: per landmark group, the share of frames below 0.5 (the analysis's threshold)
  and the lengths of those dips; frames with nobody detected.

    .venv/bin/python bench/measure_landmark_noise.py [--clip PATH]
    .venv/bin/python -m bench.measure_landmark_noise > bench/results/landmark_noise.txt
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from kinestream.connectors.video import poses_from_video
from kinestream.operators.anthropometry import EYE_HEIGHT_RATIO, measure
from kinestream.operators.athlete_lock import AthleteLock
from kinestream.operators.mediapipe_pose import MediaPipePoseEstimator
from kinestream.operators.pose import Landmark

Array = npt.NDArray[np.float64]

DEMO_CLIP: Final = (
    Path(__file__).resolve().parents[1] / "examples" / "footage" / "sports2d_demo.mp4"
)
STILL_SPEED: Final = 0.25
"""Body heights per second: the 5-frame mean CoM (or an ankle) slower than this is still."""
MIN_STILL_FRAMES: Final = 6
PLANTED_BAND: Final = 0.06
"""Body heights: an ankle this close to the box top's level is on it."""
VISIBLE: Final = 0.5
SLIDING_TIME_S: Final = 0.5
"""Time constant assumed for the slow sliding of a planted foot."""
SIMULATED_RUNS: Final = 400
SWAP_APART: Final = 0.1
"""Body heights between the legs (mean over knee, ankle, heel, toe) for a swap to show."""
STRAY_MOVE: Final = 0.1
"""Body heights a leg must jump, frame to frame, to count as a stray."""

GROUPS: Final[dict[str, tuple[int, ...]]] = {
    "head": (0, 2, 5, 7, 8),
    "shoulders": (11, 12),
    "elbows/wrists": (13, 14, 15, 16),
    "hips": (23, 24),
    "knees": (25, 26),
    "ankles": (27, 28),
    "heels/toes": (29, 30, 31, 32),
}
CORE: Final = (11, 12, 23, 24, 25, 26)
LEGS: Final = (
    (Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE),
    (Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE),
    (Landmark.LEFT_HEEL, Landmark.RIGHT_HEEL),
    (Landmark.LEFT_FOOT_INDEX, Landmark.RIGHT_FOOT_INDEX),
)
FEET: Final = (
    (Landmark.LEFT_ANKLE, Landmark.LEFT_HEEL, Landmark.LEFT_FOOT_INDEX),
    (Landmark.RIGHT_ANKLE, Landmark.RIGHT_HEEL, Landmark.RIGHT_FOOT_INDEX),
)


@dataclass
class Track:
    """The athlete's landmarks on consecutive frames: pixels (n, 33, 2), visibility (n, 33)."""

    first_frame: int
    xy: Array
    visibility: Array
    com: Array
    fps: float
    body_height_px: float
    missing_frames: int


def athlete_track(clip: Path) -> Track:
    """MediaPipe on ``clip``; the longest run of consecutive frames the athlete lock keeps."""
    runs: list[list[tuple[int, Array, Array, Array]]] = [[]]
    lock = AthleteLock()
    times: list[float] = []
    missing = 0
    with MediaPipePoseEstimator() as estimator:
        for sample in poses_from_video(clip, estimator):
            times.append(sample.timestamp_s)
            body = measure(sample)
            if body is None or sample.landmarks is None:
                missing += sample.landmarks is None
                runs.append([])
                continue
            if not lock.accept(sample.timestamp_s, body):
                runs.append([])
                continue
            com = np.array([body.com_x_px, body.com_y_px])
            runs[-1].append((sample.seq, sample.pixels(), com, sample.landmarks[:, 3].copy()))
    best = max(runs, key=len)
    xy = np.stack([row[1] for row in best])
    com = np.stack([row[2] for row in best])
    vis = np.stack([row[3] for row in best])
    fps = (len(times) - 1) / (times[-1] - times[0])
    return Track(best[0][0], xy, vis, com, fps, _body_height(xy, vis), missing)


def _body_height(xy: Array, vis: Array) -> float:
    """Median standing height in pixels over frames where eyes and heels are visible."""
    eyes = xy[:, [Landmark.LEFT_EYE, Landmark.RIGHT_EYE], 1].mean(axis=1)
    feet = xy[:, [29, 30, 31, 32], 1].mean(axis=1)
    ok = (vis[:, [2, 5, 29, 30, 31, 32]] >= VISIBLE).all(axis=1)
    return float(np.median(feet[ok] - eyes[ok])) / EYE_HEIGHT_RATIO


def moving_mean(values: Array, width: int) -> Array:
    """Centred moving mean along axis 0 (edges use the available frames)."""
    kernel = np.ones(width) / width
    pad = width // 2
    padded = np.pad(values, [(pad, pad)] + [(0, 0)] * (values.ndim - 1), mode="edge")
    out: Array = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, padded)
    return out


def stretches(mask: npt.NDArray[np.bool_], min_length: int) -> list[tuple[int, int]]:
    """Half-open index ranges of the runs of ``True`` at least ``min_length`` long."""
    out = []
    start = None
    for i, flag in enumerate([*mask.tolist(), False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start >= min_length:
                out.append((start, i))
            start = None
    return out


def detrended(values: Array) -> Array:
    """Residuals from a straight line fitted along axis 0 of (n, ...) values."""
    n = values.shape[0]
    t = np.arange(n) - (n - 1) / 2
    flat = values.reshape(n, -1)
    slope = (t[:, None] * (flat - flat.mean(axis=0))).sum(axis=0) / (t**2).sum()
    residual: Array = (flat - flat.mean(axis=0) - t[:, None] * slope).reshape(values.shape)
    return residual


def autocorrelation(pieces: list[Array], lags: int) -> Array:
    """Pooled autocorrelation at lags 1..``lags`` of zero-mean pieces (time along axis 0)."""
    var = sum(float((p**2).sum()) for p in pieces) / sum(p.size for p in pieces)
    out = []
    for lag in range(1, lags + 1):
        products = [(p[lag:] * p[:-lag]).ravel() for p in pieces if p.shape[0] > lag]
        out.append(float(np.concatenate(products).mean()) / var)
    return np.array(out)


def ar1(rng: np.random.Generator, n: int, phi: float, size: int) -> Array:
    """``size`` unit-variance AR(1) series of length ``n`` (time along axis 0)."""
    out = np.empty((n, size))
    out[0] = rng.normal(size=size)
    scale = math.sqrt(1.0 - phi**2)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + scale * rng.normal(size=size)
    return out


def simulated_lag1(lengths: list[int], phi: float, rng: np.random.Generator) -> float:
    """Lag-1 autocorrelation of AR(1) noise through the same stretches and detrending."""
    pieces = [detrended(ar1(rng, n, phi, SIMULATED_RUNS)) for n in lengths]
    return float(autocorrelation(pieces, 1)[0])


def fitted_phi(lengths: list[int], measured_lag1: float) -> float:
    """The AR(1) coefficient whose detrended lag-1 autocorrelation matches the measurement."""
    lo, hi = 0.0, 0.98
    for _ in range(14):
        mid = 0.5 * (lo + hi)
        if simulated_lag1(lengths, mid, np.random.default_rng(1)) < measured_lag1:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def robust_std(values: Array) -> float:
    """Standard deviation from the median absolute value (zero-mean data, NaN ignored)."""
    return float(1.4826 * np.nanmedian(np.abs(values)))


@dataclass
class Jitter:
    """What the still stretches gave: robust std (x, y) in px per group, AR(1) per frame."""

    group_std_px: dict[str, tuple[float, float]]
    phi: float


def jitter_report(track: Track, spans: list[tuple[int, int]]) -> tuple[list[str], Jitter]:
    """Std, outliers, autocorrelation, correlation time and common-mode share on still
    stretches. Stds are robust (median absolute residual), so that the swaps and one-frame
    leg glitches counted apart do not inflate them."""
    h = track.body_height_px
    lengths = [b - a for a, b in spans]
    # A straight line (2 parameters) per stretch and coordinate takes degrees of freedom.
    dof = math.sqrt(sum(n - 2 for n in lengths) / sum(lengths))
    pieces = [
        np.where(track.visibility[a:b, :, None] >= VISIBLE, detrended(track.xy[a:b]), np.nan)
        for a, b in spans
    ]
    stacked = np.concatenate(pieces)
    shown = [(a + track.first_frame, b + track.first_frame - 1) for a, b in spans]
    lines = [f"still stretches (frames): {shown}, {sum(lengths)} frames"]
    lines.append("jitter std per landmark group (x, y), visible landmarks:")
    group_std: dict[str, tuple[float, float]] = {}
    for name, rows in GROUPS.items():
        std = [robust_std(stacked[:, list(rows), axis]) / dof for axis in (0, 1)]
        group_std[name] = (std[0], std[1])
        lines.append(
            f"  {name:14s} {std[0]:5.2f} px {std[1]:5.2f} px   "
            f"({std[0] / h:.4f}, {std[1] / h:.4f} body heights)"
        )
    core = stacked[:, list(CORE)]
    sigma = robust_std(core) / dof
    outliers = np.abs(core) > 5 * sigma * dof
    lines.append(
        f"  core (shoulders, hips, knees): {sigma:.2f} px = {sigma / h:.4f} bh; "
        f"residuals over 5 std: {outliers.mean():.3f} of core coordinates"
    )
    clipped = [np.clip(np.nan_to_num(p[:, list(CORE)]), -3 * sigma, 3 * sigma) for p in pieces]
    acf = autocorrelation([c.reshape(c.shape[0], -1) for c in clipped], 3)
    white = autocorrelation(
        [detrended(ar1(np.random.default_rng(2), n, 0.0, SIMULATED_RUNS)) for n in lengths], 3
    )
    phi = fitted_phi(lengths, float(acf[0]))
    tau = -1.0 / (track.fps * math.log(phi)) if phi > 0.01 else 0.0
    lines.append(
        "autocorrelation of core residuals at lags 1-3 frames: "
        + ", ".join(f"{a:+.2f}" for a in acf)
        + "  (white noise through the same stretches: "
        + ", ".join(f"{a:+.2f}" for a in white)
        + ")"
    )
    lines.append(
        f"AR(1) that reproduces lag 1: phi = {phi:.2f} per frame at {track.fps:.1f} fps, "
        f"correlation time {tau * 1000:.0f} ms"
    )
    common = np.concatenate([c.mean(axis=1) for c in clipped])  # (frames, 2)
    common_std = float(np.sqrt((common**2).mean())) / dof
    total_std = float(np.sqrt(np.mean(np.concatenate(clipped) ** 2))) / dof
    share = common_std**2 / total_std**2
    independent = math.sqrt(max(total_std**2 - common_std**2, 0.0))
    lines.append(
        f"common mode (per-frame mean of the {len(CORE)} core landmarks): std "
        f"{common_std:.2f} px = {common_std / h:.4f} bh, {share:.2f} of the variance "
        f"(independent noise alone: {1 / len(CORE):.2f}); independent part: std "
        f"{independent:.2f} px = {independent / h:.4f} bh"
    )
    return lines, Jitter(group_std, phi)


def box_top_level(track: Track, still: list[tuple[int, int]]) -> float:
    """Image row of the surface under the feet: median heel/toe row on still stretches."""
    rows = np.concatenate([track.xy[a:b, [29, 30, 31, 32], 1].ravel() for a, b in still])
    return float(np.median(rows))


def largest_drift(path: Array) -> float:
    """Largest distance of the 3-frame running median of ``path`` (n, 2) from its start."""
    n = path.shape[0]
    median = np.stack([np.median(path[max(i - 1, 0) : i + 2], axis=0) for i in range(n)])
    return float(np.linalg.norm(median - median[0], axis=1).max())


def median_drift(
    lengths: list[int], std_px: tuple[float, float], phi: float, sliding_px: float, fps: float
) -> float:
    """Median largest drift of simulated heel/toe paths: AR(1) jitter of ``std_px`` plus
    an Ornstein-Uhlenbeck slide of ``sliding_px`` (time constant ``SLIDING_TIME_S``)."""
    rng = np.random.default_rng(3)
    keep = math.exp(-1.0 / (fps * SLIDING_TIME_S))
    drifts = []
    for n in lengths:
        for _ in range(SIMULATED_RUNS // 4):
            jitter = ar1(rng, n, phi, 2) * np.array(std_px)
            slide = ar1(rng, n, keep, 2) * sliding_px
            drifts.append(largest_drift(jitter + slide))
    return float(np.median(drifts))


def foot_report(track: Track, still: list[tuple[int, int]], jitter: Jitter) -> list[str]:
    """Sliding of each foot on its planted stretches, beyond what the jitter alone gives;
    heel/toe confusion on every frame."""
    h = track.body_height_px
    level = box_top_level(track, still)
    drifts: list[float] = []
    lengths: list[int] = []
    residuals: list[Array] = []
    frames = flips = 0
    spans_seen = []
    for ankle, heel, toe in FEET:
        centre = moving_mean(track.xy[:, ankle], 5)
        speed = np.linalg.norm(np.gradient(centre, axis=0), axis=1) * track.fps / h
        on_top = np.abs(track.xy[:, heel, 1] - level) < PLANTED_BAND * h
        planted = (speed < STILL_SPEED) & on_top & (track.visibility[:, ankle] >= VISIBLE)
        for a, b in stretches(planted, MIN_STILL_FRAMES):
            spans_seen.append((a + track.first_frame, b + track.first_frame - 1))
            drifts += [largest_drift(track.xy[a:b, point]) for point in (heel, toe)]
            lengths += [b - a, b - a]
            residuals.append(detrended(track.xy[a:b, [heel, toe]]).reshape(-1, 2))
        seen = (track.visibility[:, [heel, toe]] >= VISIBLE).all(axis=1)
        vector = track.xy[:, toe] - track.xy[:, heel]
        angle = np.arctan2(vector[:, 1], vector[:, 0])
        for i in np.flatnonzero(seen):
            window = [j for j in range(i - 4, i + 5) if 0 <= j < len(angle) and seen[j]]
            reference = math.atan2(
                float(np.median(np.sin(angle[window]))), float(np.median(np.cos(angle[window])))
            )
            frames += 1
            flips += abs(math.remainder(float(angle[i]) - reference, 2 * math.pi)) > math.pi / 2
    d = np.array(drifts)
    dof = math.sqrt(sum(n - 2 for n in lengths) / sum(lengths))
    pooled = np.concatenate(residuals)
    std = (robust_std(pooled[:, 0]) / dof, robust_std(pooled[:, 1]) / dof)
    alone = median_drift(lengths, std, jitter.phi, 0.0, track.fps)
    lo, hi = 0.0, 0.1 * h
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        if median_drift(lengths, std, jitter.phi, mid, track.fps) < np.median(d):
            lo = mid
        else:
            hi = mid
    return [
        f"box top (surface under the feet) at image row {level:.1f}",
        f"planted stretches (frames, both feet): {spans_seen}",
        f"foot sliding (largest drift of the 3-frame median of heel and toe from the stretch "
        f"start): median {np.median(d):.1f} px = {np.median(d) / h:.4f} bh, "
        f"max {d.max():.1f} px = {d.max() / h:.4f} bh over {len(d)} heel/toe stretches; "
        f"heel/toe jitter on these stretches {std[0]:.2f}, {std[1]:.2f} px = {std[0] / h:.4f}, "
        f"{std[1] / h:.4f} bh (x, y), which alone gives a median drift of {alone:.1f} px = "
        f"{alone / h:.4f} bh",
        f"sliding (Ornstein-Uhlenbeck, {SLIDING_TIME_S} s) that with the jitter reproduces the "
        f"median drift: std {lo:.1f} px = {lo / h:.4f} bh",
        f"heel/toe confusion (heel-to-toe vector over 90 deg from its median over 9 frames): "
        f"{flips} of {frames} visible foot-frames = {flips / max(frames, 1):.3f}",
    ]


def swap_report(track: Track) -> list[str]:
    """Left/right swaps (both legs' labels exchange) and strays (one leg's landmarks jump
    away for a few frames while the other stays), frame to frame."""
    h = track.body_height_px
    left = track.xy[:, [pair[0] for pair in LEGS]]
    right = track.xy[:, [pair[1] for pair in LEGS]]

    def apart(a: Array, b: Array) -> Array:
        """Mean distance in body heights between corresponding leg landmarks."""
        return np.asarray(np.linalg.norm(a - b, axis=2).mean(axis=1) / h)

    keep = apart(left[1:], left[:-1]) + apart(right[1:], right[:-1])
    swap = apart(left[1:], right[:-1]) + apart(right[1:], left[:-1])
    legs_apart = apart(left[:-1], right[:-1]) > SWAP_APART
    swapped = legs_apart & (swap < 0.5 * keep) & (keep - swap > SWAP_APART)
    strays: list[tuple[int, float, float]] = []
    for leg, other, ankle in ((left, right, 27), (right, left, 28)):
        moved = apart(leg[1:], leg[:-1])
        away = (moved > STRAY_MOVE) & (apart(leg[1:], other[:-1]) > STRAY_MOVE)
        still = apart(other[1:], other[:-1]) < 0.25 * STRAY_MOVE
        for i in np.flatnonzero(away & still & ~swapped):
            strays.append((i + 1, float(moved[i]), float(track.visibility[i + 1, ankle])))
    seconds = track.xy.shape[0] / track.fps
    where = (np.flatnonzero(swapped) + 1 + track.first_frame).tolist()
    sizes = np.array([size for _, size, _ in strays])
    seen = sum(vis >= VISIBLE for _, _, vis in strays)
    lines = [
        f"left/right leg swaps (legs over {SWAP_APART} bh apart, exchanged): "
        f"{int(swapped.sum())} in {track.xy.shape[0]} frames "
        f"({swapped.sum() / seconds:.2f} per second), at frames {where}",
        f"one-leg strays (a leg jumps over {STRAY_MOVE} bh from both legs' last places while "
        f"the other stays): {len(strays)} jumps ({len(strays) / seconds:.2f} per second; "
        f"a stray and its return count as two)",
    ]
    if strays:
        lines.append(
            f"  at frames {sorted(i + track.first_frame for i, _, _ in strays)}; size median "
            f"{np.median(sizes):.2f} bh, max {sizes.max():.2f} bh; {seen} with the ankle's "
            f"visibility at or over {VISIBLE}"
        )
    return lines


def visibility_report(track: Track) -> list[str]:
    """Share of frames below the visibility threshold per group, and the dips' lengths."""
    lines = ["visibility below 0.5 (share of frames; dip lengths in frames, median / max):"]
    for name, rows in GROUPS.items():
        dips: list[int] = []
        low = track.visibility[:, list(rows)] < VISIBLE
        for column in range(low.shape[1]):
            dips += [b - a for a, b in stretches(low[:, column], 1)]
        median = int(np.median(dips)) if dips else 0
        longest = max(dips) if dips else 0
        lines.append(
            f"  {name:14s} {low.mean():.3f}  dips {len(dips):3d}  {median} / {longest}  "
            f"(median visibility {np.median(track.visibility[:, list(rows)]):.2f})"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    """Print the measurements for ``--clip`` (default: the Sports2D demo clip)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clip", type=Path, default=DEMO_CLIP)
    args = parser.parse_args(argv)
    track = athlete_track(args.clip)
    n = track.xy.shape[0]
    print(f"clip {args.clip.name}: {track.fps:.2f} fps, MediaPipe at 1280 px long side")
    print(
        f"athlete track: frames {track.first_frame}-{track.first_frame + n - 1} ({n} frames); "
        f"frames with nobody detected in the clip: {track.missing_frames}"
    )
    print(f"standing body height (floor to eyes / 0.936): {track.body_height_px:.1f} px")
    speed = np.linalg.norm(np.gradient(moving_mean(track.com, 5), axis=0), axis=1)
    still = stretches(speed * track.fps / track.body_height_px < STILL_SPEED, MIN_STILL_FRAMES)
    jitter_lines, jitter = jitter_report(track, still)
    for line in [
        *jitter_lines,
        *foot_report(track, still, jitter),
        *swap_report(track),
        *visibility_report(track),
    ]:
        print(line)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
