"""``kinestream analyze --pose mediapipe|onnx --device cpu|cuda`` on video input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest

from kinestream.cli import main
from tests.footage import DEMO_CLIP, footage

ARGS = ["--sport", "drop_jump", "--athlete-height", "1.75", "--box-height", "0.4", "--quiet"]


def _events(path: Path) -> list[tuple[str, int, dict[str, Any]]]:
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [(e["event_type"], e["seq"], e["payload"]) for e in events]


@pytest.mark.footage
def test_onnx_gives_mediapipes_events_on_the_real_clip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = str(footage(DEMO_CLIP))
    outputs = {}
    for pose in ("mediapipe", "onnx"):
        outputs[pose] = tmp_path / f"{pose}.jsonl"
        argv = ["analyze", clip, *ARGS, "--pose", pose, "--json", str(outputs[pose])]
        status = main(argv)
        assert status == 0, capsys.readouterr()
    onnx, mediapipe = _events(outputs["onnx"]), _events(outputs["mediapipe"])
    assert onnx == mediapipe
    assert onnx[-1][0] == "session_summary"
    assert onnx[-1][2]["frames"] == 230


def test_cuda_without_onnxruntime_gpu_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    status = main(["analyze", str(footage(DEMO_CLIP)), *ARGS, "--pose", "onnx", "--device", "cuda"])
    _, err = capsys.readouterr()
    assert status == 1, err
    assert "onnxruntime-gpu" in err


def test_device_needs_the_onnx_backend(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["analyze", str(footage(DEMO_CLIP)), *ARGS, "--device", "cpu"])
    _, err = capsys.readouterr()
    assert status == 2, err
    assert "--device needs --pose onnx" in err
