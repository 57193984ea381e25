"""BlazePose on ONNX Runtime as a :class:`~kinestream.operators.pose.PoseEstimator`.

The same pipeline as :class:`~kinestream.operators.mediapipe_pose.MediaPipePoseEstimator`
(MediaPipe Pose's full model, video mode, no smoothing), in
:mod:`kinestream.operators.blazepose`, on the CPU or on CUDA. The models live in a
:class:`~kinestream.operators.blazepose.runtime.BlazePose` that many estimators (streams)
may share; each estimator keeps only its stream's picklable
:class:`~kinestream.operators.blazepose.tracking.PoseTrack`.
"""

from __future__ import annotations

import functools
from types import TracebackType

import numpy as np
import numpy.typing as npt

from kinestream.operators.blazepose.runtime import BlazePose, Device, PoseRequest
from kinestream.operators.blazepose.tracking import PoseTrack
from kinestream.operators.pose import PoseSample


def shared_blazepose(device: Device = "cpu") -> BlazePose:
    """This process's :class:`BlazePose` on ``device``, built at the first call: the models
    once for every stream and worker thread of the process (ONNX Runtime sessions run
    concurrently from several threads)."""
    return _blazepose_on(device)


@functools.cache
def _blazepose_on(device: Device) -> BlazePose:
    return BlazePose(device=device)


class OnnxPoseEstimator:
    """One stream's pose estimator on BlazePose in ONNX Runtime (frames in capture order).

    ``blazepose``: the models to run; by default the process's own on ``device``
    (:func:`shared_blazepose`), shared with every other estimator of the process.
    """

    def __init__(self, blazepose: BlazePose | None = None, *, device: Device = "cpu") -> None:
        self._blazepose: BlazePose | None = blazepose or shared_blazepose(device)
        self.track = PoseTrack()

    def estimate(self, rgb: npt.NDArray[np.uint8], seq: int, timestamp_s: float) -> PoseSample:
        """Estimate the pose in one RGB frame of shape (height, width, 3), dtype uint8."""
        if self._blazepose is None:
            raise RuntimeError("this OnnxPoseEstimator is closed")
        [(sample, self.track)] = self._blazepose.estimate_batch(
            [PoseRequest(self.track, rgb, seq, timestamp_s)]
        )
        return sample

    def close(self) -> None:
        """Drop the reference to the models; closing twice is harmless."""
        self._blazepose = None

    def __enter__(self) -> OnnxPoseEstimator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
