"""BlazePose (MediaPipe Pose's models) on ONNX Runtime in numpy, batched across streams."""
