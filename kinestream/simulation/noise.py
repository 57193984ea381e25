"""Landmark noise as MediaPipe Pose makes it, measured on real footage.

The default camera adds white noise of a fixed number of pixels to every landmark.
:class:`RealisticNoise` instead reproduces what ``bench/measure_landmark_noise.py`` measured
on the athlete of ``examples/footage/sports2d_demo.mp4`` (MediaPipe 0.10.21, video mode,
1280 px; figures in ``bench/results/landmark_noise.txt``). Every size is a share of the
athlete's standing body height (``bh``), because MediaPipe estimates landmarks on a crop
around the person: its errors scale with the body, not with the image.

* Jitter, per landmark group and axis (x, y): head 0.0039, 0.0059; shoulders 0.0031,
  0.0039; arms 0.0062, 0.0069; hips 0.0051, 0.0047; knees 0.0054, 0.0038; ankles 0.0051,
  0.0068 bh (robust std on still stretches of the whole body); heels and toes 0.0033,
  0.0032 bh (on planted stretches of the foot, where the truth is known not to move). A
  part of it,
  0.0025 bh, is common to the whole body (the per-frame mean of the core landmarks moves by
  that; 0.22 of the variance where independent noise would give 0.17); the rest is
  independent per landmark. Both parts are coloured: Ornstein-Uhlenbeck processes in time
  with a 0.10 s correlation time (an AR(1) coefficient of 0.72 per frame at 30 fps
  reproduces the measured lag-1 autocorrelation). The correlation time is taken in
  seconds, so at 240 fps neighbouring frames share their error as MediaPipe's would on
  near-identical images: more frames do not average it away.
* Foot sliding: each foot's ankle, heel and toe drift together, 0.0095 bh (std of an
  Ornstein-Uhlenbeck process with a 0.5 s time constant): with the jitter, that reproduces
  the measured largest drift of a planted foot over about 0.3 s (median 0.012 bh, where the
  jitter alone gives 0.006; 0.041 bh at most).
* Heel/toe confusion: in 0.003 of the frames a foot's heel and toe exchange places.
* Left/right swaps: the legs' labels exchange in episodes of about 0.1 s (3-4 frames),
  0.7 per second (7 swap or swap-back frames in 5.4 s).
* Far-leg strays: the far leg's knee, ankle, heel and toe jump together by 0.1-0.3 bh
  (measured median 0.17, largest 0.31), upwards and to either side, for about 0.1 s, 0.6
  times a second (6 jumps away or back in 5.4 s, the leg planted all along); the ankle's
  visibility then reads from [0.1, 0.7] (2 of the 6 were at 0.5 or over).
* Visibility dips: the far-side leg (knee, ankle, heel, toe) is below 0.5 visibility in
  0.14 of the frames, in dips of 0.17 s on average (knees 0.175, ankles 0.135 of the
  frames, dips of 3-7 frames, 26 at most); any one heel or toe in another 0.06, dips of
  about 2 frames. In a dip the visibility is drawn from [0.05, 0.45].

What it does not model: MediaPipe losing the person altogether (the camera's ``drop_rate``
covers lost frames), biases that depend on posture, and the lens and camera motion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from kinestream.operators.pose import NUM_LANDMARKS, Landmark
from kinestream.simulation.body import Array

Mask = npt.NDArray[np.bool_]

# Measured jitter (x, y) in body heights, per landmark group (landmark indices).
_GROUP_JITTER_BH: Final = (
    (range(0, 11), (0.0039, 0.0059)),
    (range(11, 13), (0.0031, 0.0039)),
    (range(13, 23), (0.0062, 0.0069)),
    (range(23, 25), (0.0051, 0.0047)),
    (range(25, 27), (0.0054, 0.0038)),
    (range(27, 29), (0.0051, 0.0068)),
    (range(29, 33), (0.0033, 0.0032)),
)
JITTER_BH: Final = np.zeros((NUM_LANDMARKS, 2))
for _rows, _std in _GROUP_JITTER_BH:
    JITTER_BH[list(_rows)] = _std

LEFT_LEG: Final = (
    Landmark.LEFT_KNEE,
    Landmark.LEFT_ANKLE,
    Landmark.LEFT_HEEL,
    Landmark.LEFT_FOOT_INDEX,
)
RIGHT_LEG: Final = (
    Landmark.RIGHT_KNEE,
    Landmark.RIGHT_ANKLE,
    Landmark.RIGHT_HEEL,
    Landmark.RIGHT_FOOT_INDEX,
)
FEET: Final = (
    (Landmark.LEFT_ANKLE, Landmark.LEFT_HEEL, Landmark.LEFT_FOOT_INDEX),
    (Landmark.RIGHT_ANKLE, Landmark.RIGHT_HEEL, Landmark.RIGHT_FOOT_INDEX),
)
FOOT_POINTS: Final = (
    Landmark.LEFT_HEEL,
    Landmark.RIGHT_HEEL,
    Landmark.LEFT_FOOT_INDEX,
    Landmark.RIGHT_FOOT_INDEX,
)


@dataclass(frozen=True, slots=True)
class RealisticNoise:
    """MediaPipe-like landmark noise; sizes in body heights, times in seconds.

    ``far_leg`` is the leg the camera sees through the body (the simulated camera looks
    at the athlete's left side, so the right one). Set a rate or share to 0 to switch that
    effect off; :meth:`scaled` makes every size larger or smaller at once.
    """

    jitter_scale: float = 1.0
    common_bh: float = 0.0025
    correlation_time_s: float = 0.10
    sliding_bh: float = 0.0095
    sliding_time_s: float = 0.5
    heel_toe_swap_share: float = 0.003
    leg_swaps_per_s: float = 0.7
    leg_swap_mean_s: float = 0.1
    far_leg_dip_share: float = 0.14
    far_leg_dip_mean_s: float = 0.17
    foot_dip_share: float = 0.06
    foot_dip_mean_s: float = 0.07
    far_leg_strays_per_s: float = 0.6
    far_leg_stray_mean_s: float = 0.1
    stray_bh: tuple[float, float] = (0.1, 0.3)
    far_leg: tuple[int, ...] = tuple(RIGHT_LEG)

    def scaled(self, factor: float) -> RealisticNoise:
        """The same noise with every size (jitter, common mode, sliding, strays) times
        ``factor``."""
        return RealisticNoise(
            jitter_scale=self.jitter_scale * factor,
            common_bh=self.common_bh * factor,
            correlation_time_s=self.correlation_time_s,
            sliding_bh=self.sliding_bh * factor,
            sliding_time_s=self.sliding_time_s,
            heel_toe_swap_share=self.heel_toe_swap_share,
            leg_swaps_per_s=self.leg_swaps_per_s,
            leg_swap_mean_s=self.leg_swap_mean_s,
            far_leg_dip_share=self.far_leg_dip_share,
            far_leg_dip_mean_s=self.far_leg_dip_mean_s,
            foot_dip_share=self.foot_dip_share,
            foot_dip_mean_s=self.foot_dip_mean_s,
            far_leg_strays_per_s=self.far_leg_strays_per_s,
            far_leg_stray_mean_s=self.far_leg_stray_mean_s,
            stray_bh=(self.stray_bh[0] * factor, self.stray_bh[1] * factor),
            far_leg=self.far_leg,
        )

    def apply(
        self,
        times: Array,
        px: Array,
        visibility: Array,
        body_height_px: float,
        rng: np.random.Generator,
    ) -> tuple[Array, Array]:
        """Noisy copies of landmark pixels ``px`` (n, 33, 2) and ``visibility`` (n, 33)
        seen at ``times`` (n,), for a body ``body_height_px`` tall in the image."""
        n = times.shape[0]
        out = px.copy()
        vis = visibility.copy()
        h = body_height_px
        common = h * _ornstein_uhlenbeck(times, self.correlation_time_s, (2,), rng)
        total = JITTER_BH * self.jitter_scale
        independent = np.sqrt(
            np.clip(total**2 - (self.common_bh * self.jitter_scale) ** 2, 0, None)
        )
        shape = (NUM_LANDMARKS, 2)
        out += h * _ornstein_uhlenbeck(times, self.correlation_time_s, shape, rng) * independent
        out += common[:, None, :] * self.common_bh * self.jitter_scale
        sliding = _ornstein_uhlenbeck(times, self.sliding_time_s, (len(FEET), 2), rng)
        for foot, drift in zip(FEET, np.moveaxis(sliding, 1, 0), strict=True):
            out[:, list(foot)] += h * self.sliding_bh * drift[:, None, :]

        far = np.array(self.far_leg, dtype=np.intp)
        far_dip = _episodes(times, self.far_leg_dip_share, self.far_leg_dip_mean_s, 1, rng)[:, 0]
        dips = np.zeros((n, NUM_LANDMARKS), dtype=bool)
        dips[np.ix_(far_dip, far)] = True
        foot_dips = _episodes(times, self.foot_dip_share, self.foot_dip_mean_s, 4, rng)
        dips[:, list(FOOT_POINTS)] |= foot_dips
        count = int(dips.sum())
        vis[dips] = rng.uniform(0.05, 0.45, size=count)
        self._stray(times, out, vis, h, rng)

        for heel, toe in ((FEET[0][1], FEET[0][2]), (FEET[1][1], FEET[1][2])):
            swap = rng.random(n) < self.heel_toe_swap_share
            _exchange(out, vis, swap, [heel], [toe])
        mean_swap = max(self.leg_swap_mean_s, 1e-9)
        share = self.leg_swaps_per_s * mean_swap / (1.0 + self.leg_swaps_per_s * mean_swap)
        legs = _episodes(times, share, mean_swap, 1, rng)[:, 0]
        _exchange(out, vis, legs, list(LEFT_LEG), list(RIGHT_LEG))
        return out, vis

    def _stray(
        self, times: Array, px: Array, vis: Array, h: float, rng: np.random.Generator
    ) -> None:
        """Move the far leg by one offset per stray episode, in place (image y is down)."""
        mean = max(self.far_leg_stray_mean_s, 1e-9)
        share = self.far_leg_strays_per_s * mean / (1.0 + self.far_leg_strays_per_s * mean)
        away = _episodes(times, share, mean, 1, rng)[:, 0]
        starts = np.flatnonzero(away & ~np.concatenate([[False], away[:-1]]))
        far = list(self.far_leg)
        for start in starts:
            end = start
            while end < away.size and away[end]:
                end += 1
            size = h * rng.uniform(*self.stray_bh)
            angle = rng.uniform(0.0, np.pi)
            px[start:end, far] += size * np.array([np.cos(angle), -np.sin(angle)])
            vis[start:end, far] = rng.uniform(0.1, 0.7)


def _exchange(px: Array, vis: Array, rows: Mask, first: list[int], second: list[int]) -> None:
    """Swap landmarks ``first`` and ``second`` in place on the frames where ``rows``."""
    if not rows.any():
        return
    frames = np.flatnonzero(rows)
    a = np.ix_(frames, np.array(first, dtype=np.intp))
    b = np.ix_(frames, np.array(second, dtype=np.intp))
    px[a], px[b] = px[b].copy(), px[a].copy()
    vis[a], vis[b] = vis[b].copy(), vis[a].copy()


def _ornstein_uhlenbeck(
    times: Array, correlation_time_s: float, shape: tuple[int, ...], rng: np.random.Generator
) -> Array:
    """Unit-variance, stationary Ornstein-Uhlenbeck processes sampled at ``times``,
    shape (n, *shape); exact for any spacing of the samples."""
    n = times.shape[0]
    out = np.empty((n, *shape))
    if n == 0:
        return out
    out[0] = rng.normal(size=shape)
    steps = np.diff(times)
    keep = np.exp(-steps / correlation_time_s) if correlation_time_s > 0 else np.zeros_like(steps)
    fresh = np.sqrt(1.0 - keep**2)
    draws = rng.normal(size=(n - 1, *shape))
    for i in range(1, n):
        out[i] = keep[i - 1] * out[i - 1] + fresh[i - 1] * draws[i - 1]
    return out


def _episodes(
    times: Array, share: float, mean_s: float, channels: int, rng: np.random.Generator
) -> Mask:
    """Independent on/off episodes, shape (n, channels): on for ``share`` of the time on
    average, each episode lasting ``mean_s`` on average (exponential) and one frame at
    least. A two-state Markov chain in continuous time, started in its stationary state."""
    n = times.shape[0]
    on = np.zeros((n, channels), dtype=bool)
    if n == 0 or share <= 0.0:
        return on
    share = min(share, 0.999)
    start_rate = share / (mean_s * (1.0 - share))
    steps = np.diff(times, prepend=times[0])
    start = 1.0 - np.exp(-start_rate * steps)
    end = 1.0 - np.exp(-steps / mean_s)
    u = rng.random((n, channels))
    on[0] = u[0] < share
    for i in range(1, n):
        on[i] = np.where(on[i - 1], u[i] >= end[i], u[i] < start[i])
    return on
