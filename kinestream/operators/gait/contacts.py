"""Ground contacts of one foot: detected on the foot's lowest point, timed between frames.

A foot is on the ground while its lowest point (heel or toe, whichever is lower in the
image) is within ``threshold_m`` of the floor for ``CONFIRM_FRAMES`` frames and
``CONFIRM_S`` (a contact lasts 0.15 s at least, a swing 0.3 s). Each contact
is timed afterwards, once ``FIT_WINDOW_S`` of frames after its toe-off are in, on the
point that touches or leaves the ground (the heel or the toe, whichever is lower there)
against that point's own level in this contact (the median of its frames on the ground),
so a floor a millimetre off does not shift either instant. (The lowest point's level, where
both points are down, is the lower of two noisy values, half a noise below either: strikes
timed on it came late, toe-offs early.) With ``tau`` the time from the instant ``t0`` into
the air, and the point at its level on the other side:

* **strike** is an impact: the point comes down at a finite speed, still slowing, and
  stops: ``h = w*tau + c*tau**2`` on the frames of the last ``STRIKE_WINDOW_S`` (at least
  ``STRIKE_FRAMES`` frame periods) before it, ``+ d*tau**3`` where the window holds
  ``CUBIC_AIR_FRAMES`` frames before the last one clearly in the air (the foot's speed
  peaks on its way down, within 30-100 ms of the strike);
* **toe-off** is a lift from a pivot: the toe leaves with zero velocity and a finite
  acceleration: ``h = c*tau**2 + d*tau**3`` on the frames of ``FIT_WINDOW_S`` (at least
  ``FIT_FRAMES`` periods) after it, ``+ e*tau**4`` where the window holds
  ``QUARTIC_AIR_FRAMES`` frames clearly in the air (the lift is a polynomial of higher
  order over its first 50 ms).

The windows are short without noise, where the local models hold only near the instant,
and grow with the noise, where more frames average it out.

``t0`` is the mean of its likelihood under the contact's noise (least squares at each
candidate ``t0``, ``w`` and ``c`` kept positive; for a strike the likelihood of ``t0`` alone,
the fit's coefficients integrated out; the best fit where the noise is too small to spread
the likelihood over the candidates) between the last frame
clearly (``CLEAR_NOISE`` times the noise) in the air and the first below that, extended to
the ground side by as long as the slowest foot takes to cover that height (coming down at
``MIN_TOUCHDOWN_M_S``, or lifting at ``MIN_LIFT_M_S2``). A hidden foot (landmark
visibility below ``HIDDEN_VISIBILITY``) changes no state and is left out of the fits; a
contact whose strike or toe-off fell in a hidden stretch longer than ``MAX_UNSEEN_S`` is
not timed at all.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from kinestream.operators.pose import FloatArray

STRIKE_WINDOW_S: Final = (0.02, 10.0, 0.08)
"""Strike fit window: seconds at no noise, seconds added per metre of noise, the most."""
STRIKE_FRAMES: Final = 2.2
FIT_WINDOW_S: Final = (0.02, 30.0, 0.1)
"""Toe-off fit window, as ``STRIKE_WINDOW_S``: noisier feet need more frames."""
FIT_FRAMES: Final = 2.2
QUARTIC_AIR_FRAMES: Final = 5
"""A toe-off's fit adds a quartic term when at least this many of its frames are past the
first one clearly in the air: over the long windows noise needs, the lift is a polynomial
of higher order than the cubic (which put toe-offs about 1 ms late over 60 ms without
noise), and three coefficients need frames to spare."""
CUBIC_AIR_FRAMES: Final = 5
"""A strike's fit adds a cubic term when at least this many of its frames are before the
last one clearly in the air: over 30 ms the touchdown is no quadratic (the foot's speed
peaks on its way down), which put strikes up to 1.7 ms off without noise (0.25 ms with the
cubic)."""
MIN_CONTACT_S: Final = 0.06
MAX_CONTACT_S: Final = 2.0
MIN_SWING_S: Final = 0.08
CONFIRM_FRAMES: Final = 2
CONFIRM_S: Final = 0.03
"""Frames on the other side of the threshold before a foot changes state."""
GRID: Final = 64
"""Candidate instants of a fit, evenly between its bounds (the best refined between its
neighbours)."""
_STEPS: Final = np.arange(GRID, dtype=np.float64)
MAX_TIMING_NOISE_M: Final = 0.007
"""Timing takes a contact's noise as the planted feet's spread (``noise_m``), but no more
than this or the contact's own spread about its level (slow sliding and coloured jitter
widen the spread of many contacts, not the frames around one event), and no more than three
times that own spread (on a stream's first contacts the feet's spread is not known yet)."""
MIN_NOISE_FRAMES: Final = 5
MAX_TOUCHDOWN_M_S: Final = 1.5
"""The fastest a foot comes down onto the ground in running (heel strikes: 0.5-1 m/s)."""
MIN_TOUCHDOWN_M_S: Final = 0.4
"""The slowest a foot comes down onto the ground in running."""
MIN_LIFT_M_S2: Final = 30.0
"""The slowest a toe accelerates up from the ground at toe-off in running."""
HIDDEN_VISIBILITY: Final = 0.5
"""Below this a foot's landmarks are the pose model's guess: not used."""
MAX_UNSEEN_S: Final = 0.1
"""A strike or toe-off is placed only when the foot was seen on both sides of it within
this (or one and a half frame periods): over a longer hidden stretch it could be anywhere
in it, and the contact is no step (the analysis counts it as unseen)."""
FRAMES_BEFORE_S: Final = 0.3
"""A contact is timed on its frames and those of this long before it (the strike's fit
window and a hidden stretch, at most)."""
CLEAR_NOISE: Final = 3.0
CLEAR_MIN_M: Final = 0.002


class FootFrame(NamedTuple):
    """One frame of one foot: time, lowest point (the lower of heel and toe), heel and toe
    heights and horizontal positions (pixels, image ``y`` down), visibility of the foot's
    landmarks."""

    time_s: float
    low_y_px: float
    heel_y_px: float
    toe_y_px: float
    x_px: float
    hip_x_px: float
    visibility: float


@dataclass(frozen=True, slots=True)
class Contact:
    """One foot's contact with the ground, timed between frames."""

    foot: str
    strike_s: float
    toe_off_s: float
    ground_y_px: float
    visibility: float
    """Mean visibility of the foot's landmarks over the contact."""
    ground_speed_px_s: float | None
    """How fast the hip passed over the planted foot (image pixels per second)."""
    x_px: float
    """The planted foot's horizontal position at mid-contact."""
    coarse: bool
    """A strike or toe-off could not be fitted (the foot hidden or unclear there): it is
    placed between the frames either side of the threshold crossing."""
    noise_m: float
    """Noise of the lowest point on the ground in this contact (robust standard deviation
    about its own level, so a foot sliding slowly does not count)."""

    @property
    def contact_time_s(self) -> float:
        """Strike to toe-off."""
        return self.toe_off_s - self.strike_s


def hinge_crossing(
    times: FloatArray,
    heights: FloatArray,
    lower: float,
    upper: float,
    rising: bool,
    noise_m: float = 0.0,
    higher: bool = False,
) -> float:
    """``t0`` in [lower, upper] of the hinge fit, zero on the ground side of ``t0``
    and, with ``tau`` the time from ``t0`` into the air, ``w*tau + c*tau**2`` before a
    strike (``rising`` False: an impact at speed ``w``; ``+ d*tau**3`` with ``higher``),
    ``c*tau**2 + d*tau**3`` after a toe-off (a lift from rest; ``+ e*tau**4`` with
    ``higher``). The leading coefficient is kept positive.

    With ``noise_m`` (the heights' noise, metres) ``t0`` is the mean of its likelihood
    over the interval, ``exp(-sse / (2 noise_m**2))``, not the best fit alone: under noise
    the residuals change little over a millisecond or two and the best fit follows the
    noise. For a strike the likelihood is the marginal one, the coefficients integrated out
    (divided by the square root of the fit's normal-matrix determinant): on the best fits'
    residuals alone, strikes of an exact touchdown came 0.22 frame late on average at
    240 fps and 1.4 mm of noise, 0.02 frame with it. A toe-off keeps the best
    fit's likelihood: the marginal one put the synthetic runner's toe-offs 0.2-0.7 frame
    late. Where the likelihood is narrower than the candidates' spacing (little noise), the
    best fit, refined between its neighbours."""
    if upper <= lower:
        return 0.5 * (lower + upper)
    spacing = (upper - lower) / (GRID - 1)
    candidates = _STEPS * spacing + lower  # np.linspace(lower, upper, GRID), as exact
    candidates[-1] = upper
    marginal = noise_m > 0.0 and not rising
    sse, det = _sse(candidates, times, heights, rising, higher, marginal)
    i = int(np.argmin(sse))
    if noise_m > 0.0:
        weights = np.exp((sse[i] - sse) / (2.0 * noise_m * noise_m))
        if marginal:
            weights /= np.sqrt(np.maximum(det, 1e-300))
        total = float(weights.sum())
        mean = float(weights @ candidates) / total
        spread = math.sqrt(max(float(weights @ (candidates - mean) ** 2) / total, 0.0))
        if spread >= spacing:
            return mean
    if i in (0, GRID - 1):
        return float(candidates[i])
    # the vertex of the parabola through the best candidate and its neighbours
    below, best, above = float(sse[i - 1]), float(sse[i]), float(sse[i + 1])
    curvature = below - 2.0 * best + above
    shift = 0.5 * (below - above) / curvature if curvature > 0 else 0.0
    return float(candidates[i]) + max(-0.5, min(0.5, shift)) * spacing


def _sse(
    t0: FloatArray,
    times: FloatArray,
    heights: FloatArray,
    rising: bool,
    higher: bool = False,
    marginal: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """Residual sum of squares of the hinge fit at each candidate ``t0`` (``times``
    increasing), and its normal matrix's determinant (the volume of coefficients the
    likelihood covers shrinks with its square root). With ``higher`` the higher-order fit
    where it can be made: the better of the two at each candidate, or (``marginal``, where
    the determinants are compared) the higher one alone."""
    if rising:
        tau = np.maximum(times[None, :] - t0[:, None], 0.0)
        first, second = tau * tau, tau**3
        airborne = times.shape[0] - np.searchsorted(times, t0, side="right")  # tau > 0
    else:
        tau = np.maximum(t0[:, None] - times[None, :], 0.0)
        first, second = tau, tau * tau
        airborne = np.searchsorted(times, t0, side="left")
    a11 = np.einsum("ij,ij->i", first, first)
    a12 = np.einsum("ij,ij->i", first, second)
    a22 = np.einsum("ij,ij->i", second, second)
    b1 = first @ heights
    b2 = second @ heights
    a11a22 = a11 * a22
    det = a11a22 - a12 * a12
    two = (det > 1e-12 * np.maximum(a11a22, 1e-300)) & (airborne >= 3)
    safe = np.where(two, det, 1.0)
    lead = (a22 * b1 - a12 * b2) / safe
    extra = (a11 * b2 - a12 * b1) / safe
    single = np.maximum(np.divide(b1, a11, out=np.zeros_like(b1), where=a11 > 0), 0.0)
    use_two = two & (lead >= 0)
    lead = np.where(use_two, lead, single)
    extra = np.where(use_two, extra, 0.0)
    if not rising:  # no foot lands faster than MAX_TOUCHDOWN_M_S
        capped = two & (lead > MAX_TOUCHDOWN_M_S)
        lead = np.minimum(lead, MAX_TOUCHDOWN_M_S)
        if capped.any():
            refit = (b2 - a12 * lead) / np.where(a22 > 0, a22, 1.0)
            extra = np.where(capped, np.maximum(refit, 0.0), extra)
    # the residual sum of squares from the normal equations' sums, not frame by frame
    sse: FloatArray = (
        heights @ heights
        - 2.0 * (lead * b1 + extra * b2)
        + lead * lead * a11
        + 2.0 * lead * extra * a12
        + extra * extra * a22
    )
    if higher:
        higher_sse, higher_det = _sse_higher(tau, heights, airborne, rising)
        if not marginal:
            sse = np.minimum(sse, higher_sse)
        elif np.isfinite(higher_sse).any():
            sse, det = higher_sse, higher_det
    return sse, det


def _sse_higher(
    tau: FloatArray, heights: FloatArray, airborne: npt.NDArray[np.intp], rising: bool
) -> tuple[FloatArray, FloatArray]:
    """Residual sum of squares of the lift ``c*tau**2 + d*tau**3 + e*tau**4`` (``rising``)
    or the touchdown ``w*tau + c*tau**2 + d*tau**3`` at each candidate (``tau`` one row per
    candidate), infinite where it has too few frames in the air or a leading coefficient
    out of its bounds (negative; a touchdown faster than ``MAX_TOUCHDOWN_M_S``); and the
    normal matrix's determinant."""
    first = 2 if rising else 1
    basis = np.stack([tau**first, tau ** (first + 1), tau ** (first + 2)], axis=1)
    gram = np.einsum("gin,gjn->gij", basis, basis)
    rhs = basis @ heights
    scale = np.einsum("gii->gi", gram)
    ok = (airborne >= 4) & (scale[:, 0] > 0)
    norm = np.sqrt(np.where(ok[:, None], scale, 1.0))  # scaled: tau**4 is tiny in seconds
    scaled = gram / (norm[:, :, None] * norm[:, None, :])
    det = np.abs(np.linalg.det(scaled))
    ok &= det > 1e-12
    scaled[~ok] = np.eye(3)
    coef = np.linalg.solve(scaled, (rhs / norm)[..., None])[..., 0]
    sse: FloatArray = heights @ heights - np.einsum("gi,gi->g", coef, rhs / norm)
    lead = coef[:, 0] / norm[:, 0]
    ok &= (lead >= 0) & (rising | (lead <= MAX_TOUCHDOWN_M_S))
    return np.where(ok, sse, np.inf), det * scale.prod(axis=1)


def percentiles(values: FloatArray, q: tuple[float, ...]) -> list[float]:
    """``np.percentile(values, q)`` (linear interpolation) by partial sorting: as exact,
    several times cheaper on the few hundred values of a stream's reference."""
    position = [p / 100.0 * (values.shape[0] - 1) for p in q]
    below = [math.floor(x) for x in position]
    above = [math.ceil(x) for x in position]
    part = np.partition(values, sorted(set(below + above)))
    return [
        float(part[lo] + (x - lo) * (part[hi] - part[lo]))
        for x, lo, hi in zip(position, below, above, strict=True)
    ]


def median(values: FloatArray) -> float:
    """``np.median`` of a 1-D array by partial sorting."""
    (value,) = percentiles(values, (50.0,))
    return value


def _window(spec: tuple[float, float, float], least_s: float, noise_m: float) -> float:
    """A fit window for feet measured with ``noise_m`` of noise: ``spec`` is (seconds at no
    noise, seconds per metre of noise, the most); ``least_s`` at least."""
    base, per_m, most = spec
    return max(least_s, min(base + per_m * noise_m, most))


class FootTracker:
    """Contact detection of one foot: frames in, completed :class:`Contact` values out.

    A contact is timed once ``FIT_WINDOW_S`` of frames after its toe-off are in (the
    toe-off fit needs them). Memory is bounded: the frames of the last ``MAX_CONTACT_S``
    and a fit window.
    """

    def __init__(self, foot: str, fps: float) -> None:
        self.foot = foot
        self.fps = fps
        self.confirm = max(CONFIRM_FRAMES, math.ceil(CONFIRM_S * fps))
        """Frames on the other side of the threshold before the foot changes state."""
        self.frames: deque[FootFrame] = deque(maxlen=max(32, int((MAX_CONTACT_S + 0.3) * fps)))
        self.on_ground = False
        self._flips = 0
        self._start_s: float | None = None
        """Time of the first frame of the current contact, when its strike can be timed."""
        self._air_frames = 0
        self._pending: tuple[float, float] | None = None
        """First and last-plus-one frame times of a contact waiting for its toe-off fit."""

    def lost(self) -> None:
        """The foot went out of view: a contact in progress cannot be timed."""
        self.frames.clear()
        self.on_ground = False
        self._flips = 0
        self._start_s = None
        self._air_frames = 0
        self._pending = None

    def push(
        self,
        frame: FootFrame,
        floor_y_px: float,
        m_per_px: float,
        threshold_m: float,
        noise_m: float,
    ) -> Contact | None:
        """Add one frame; return the contact that is complete with it."""
        self.frames.append(frame)
        done = None
        if self._pending is not None and (
            frame.time_s - self._pending[1]
            >= _window(FIT_WINDOW_S, FIT_FRAMES / self.fps, noise_m) + 0.5 / self.fps
        ):
            done = self._flush(m_per_px, noise_m)
        if frame.visibility < HIDDEN_VISIBILITY:
            return done  # a hidden foot's position is a guess: it changes nothing
        height = (floor_y_px - frame.low_y_px) * m_per_px
        low = height < threshold_m
        if low == self.on_ground:
            self._flips = 0
            if not low:
                self._air_frames += 1
            elif self._start_s is not None and frame.time_s - self._start_s > MAX_CONTACT_S:
                self._start_s = None  # on the ground longer than any running contact
            return done
        self._flips += 1
        if self._flips < self.confirm:
            return done
        self._flips = 0
        self.on_ground = low
        first_s = self.frames[-self.confirm].time_s
        if low:
            if self._pending is not None:
                done = self._flush(m_per_px, noise_m)
            # A strike can be timed only when the foot was seen in the air before it.
            self._start_s = first_s if self._air_frames >= self.confirm else None
            self._air_frames = 0
            return done
        self._air_frames = self.confirm
        if self._start_s is not None:
            self._pending = (self._start_s, first_s)
        self._start_s = None
        return done

    def finish(self, m_per_px: float, noise_m: float) -> Contact | None:
        """The contact still waiting for frames after its toe-off, timed with those seen."""
        return self._flush(m_per_px, noise_m) if self._pending is not None else None

    def _flush(self, m_per_px: float, noise_m: float) -> Contact | None:
        assert self._pending is not None
        start_s, end_s = self._pending
        self._pending = None
        first_s = start_s - FRAMES_BEFORE_S
        frames: list[FootFrame] = []
        every: list[float] = []
        for frame in reversed(self.frames):  # the latest frames only
            if frame.time_s < first_s:
                break
            if start_s <= frame.time_s < end_s:
                every.append(frame.visibility)
            if frame.visibility >= HIDDEN_VISIBILITY:
                frames.append(frame)
        frames.reverse()
        times = [f.time_s for f in frames]
        start = bisect_left(times, start_s)
        end = bisect_left(times, end_s)
        if start == 0 or end >= len(times) or not every:
            return None
        visibility = sum(every) / len(every)
        return self._time_contact(frames, start, end, m_per_px, noise_m, visibility)

    def _time_contact(
        self,
        frames: list[FootFrame],
        start: int,
        end: int,
        m_per_px: float,
        noise_m: float,
        visibility: float,
    ) -> Contact | None:
        """Time the contact whose visible frames are ``frames[start:end]``."""
        stance = frames[start:end]
        if len(stance) < 2:
            return None
        period = 1.0 / self.fps
        unseen = max(MAX_UNSEEN_S, 1.5 * period)
        if (
            frames[start].time_s - frames[start - 1].time_s > unseen
            or frames[end].time_s - frames[end - 1].time_s > unseen
        ):
            return None
        data = np.array([(f.time_s, f.low_y_px, f.heel_y_px, f.toe_y_px) for f in frames])
        times = data[:, 0]
        cut = len(stance) // 5
        levels = data[start + cut : end - cut, 1] if end - start > 2 * cut else data[start:end, 1]
        ground = median(levels)
        if len(levels) >= MIN_NOISE_FRAMES:  # this contact's own, fast noise
            own = 1.4826 * median(np.abs(levels - ground)) * m_per_px
            noise_m = min(noise_m, max(own, MAX_TIMING_NOISE_M), 3.0 * own)
        clear = max(CLEAR_NOISE * noise_m, CLEAR_MIN_M)
        low = (ground - data[:, 1]) * m_per_px
        heel = _heights(data[:, 2], start, end, ground, m_per_px, clear)
        toe = _heights(data[:, 3], start, end, ground, m_per_px, clear)
        strike_window = _window(STRIKE_WINDOW_S, STRIKE_FRAMES * period, noise_m)
        strike = self._strike(times, heel, toe, low, start, strike_window, clear, noise_m)
        toe_window = _window(FIT_WINDOW_S, FIT_FRAMES * period, noise_m)
        toe_off = self._toe_off(times, heel, toe, low, end - 1, toe_window, clear, noise_m)
        coarse = strike is None or toe_off is None
        if strike is None:  # hidden or unclear there: between the frames either side
            strike = 0.5 * float(times[start - 1] + times[start])
        if toe_off is None:
            toe_off = 0.5 * float(times[end - 1] + times[end])
        duration = toe_off - strike
        if not MIN_CONTACT_S <= duration <= MAX_CONTACT_S:
            return None
        middle = stance[len(stance) // 4 : len(stance) - len(stance) // 4] or stance
        speed = None
        if len(middle) >= 2 and middle[-1].time_s > middle[0].time_s:
            dt = middle[-1].time_s - middle[0].time_s
            hip = middle[-1].hip_x_px - middle[0].hip_x_px
            foot = middle[-1].x_px - middle[0].x_px
            speed = abs(hip - foot) / dt
        return Contact(
            foot=self.foot,
            strike_s=strike,
            toe_off_s=toe_off,
            ground_y_px=ground,
            visibility=visibility,
            ground_speed_px_s=speed,
            noise_m=noise_m,
            coarse=coarse,
            x_px=stance[len(stance) // 2].x_px,
        )

    @staticmethod
    def _strike(
        times: FloatArray,
        heel: FloatArray,
        toe: FloatArray,
        low: FloatArray,
        first_low: int,
        window: float,
        clear: float,
        noise_m: float,
    ) -> float | None:
        """Strike of the point that lands (heel or toe, the lower on the frame before the
        lowest point reaches the ground: on that one both may be down), between its last
        frame clearly in the air (the contact's first frames, below the detection threshold,
        may still be) and the next one."""
        n = len(times)
        ground = first_low
        while ground < n and low[ground] > clear:
            ground += 1
        while 0 < ground < n and low[ground - 1] <= clear:  # down before it was detected
            ground -= 1
        if ground >= n or ground == 0:
            return None
        heights = heel if heel[ground - 1] <= toe[ground - 1] else toe
        while ground < n and heights[ground] > clear:
            ground += 1
        if ground >= n or ground == 0:
            return None
        t_air, t_ground = times[ground - 1], times[ground]
        pick = (times >= t_air - window) & (times <= t_ground + window)
        upper = t_ground + clear / MIN_TOUCHDOWN_M_S
        cubic = int(np.count_nonzero(times[pick] < t_air)) >= CUBIC_AIR_FRAMES
        return hinge_crossing(times[pick], heights[pick], t_air, upper, False, noise_m, cubic)

    @staticmethod
    def _toe_off(
        times: FloatArray,
        heel: FloatArray,
        toe: FloatArray,
        low: FloatArray,
        last_low: int,
        window: float,
        clear: float,
        noise_m: float,
    ) -> float | None:
        """Toe-off of the point that leaves last (the toe, or the heel of a foot that lifts
        flat: the lower on the frame after the lowest point leaves the ground), between its
        last frame on the ground (the contact's last frames, below the detection threshold,
        may already be in the air) and the next one."""
        n = len(times)
        ground = last_low
        while ground > 0 and low[ground] > clear:
            ground -= 1
        while ground + 1 < n and low[ground + 1] <= clear:  # still down after the detection
            ground += 1
        if ground + 1 >= n:
            return None
        heights = heel if heel[ground + 1] <= toe[ground + 1] else toe
        while ground > 0 and heights[ground] > clear:
            ground -= 1
        if ground + 1 >= n:
            return None
        t_ground, t_air = times[ground], times[ground + 1]
        pick = (times >= t_ground - window) & (times <= t_air + window)
        lower = t_ground - math.sqrt(2.0 * clear / MIN_LIFT_M_S2)
        quartic = int(np.count_nonzero(times[pick] > t_air)) >= QUARTIC_AIR_FRAMES
        return hinge_crossing(times[pick], heights[pick], lower, t_air, True, noise_m, quartic)


def _heights(
    y_px: FloatArray, start: int, end: int, ground: float, m_per_px: float, clear: float
) -> FloatArray:
    """Heights (metres) of one landmark above its own level in the contact ``start:end``:
    the median of its frames there on the ground. The lowest point's level (``ground``) is
    the lower of two noisy landmarks where both are down, lower than either's by about half
    the noise; a strike or toe-off timed against it would be late or early by that."""
    stance = y_px[start:end]
    down = stance[(ground - stance) * m_per_px < clear]
    level = median(down) if len(down) >= MIN_NOISE_FRAMES else ground
    heights: FloatArray = (level - y_px) * m_per_px
    return heights
