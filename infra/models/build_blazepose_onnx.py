"""Convert MediaPipe's bundled BlazePose TFLite models to ONNX with a dynamic batch dimension.

Build-time only: runs in its own virtual environment (``infra/models/requirements-build.txt``:
tensorflow-cpu, tf2onnx, onnx), never in kinestream's. Reads the two models that the
``mediapipe==0.10.21`` wheel bundles (Apache-2.0)::

    python3.11 -m venv /tmp/onnx-build-venv
    /tmp/onnx-build-venv/bin/pip install -r infra/models/requirements-build.txt
    /tmp/onnx-build-venv/bin/python infra/models/build_blazepose_onnx.py \\
        --mediapipe-root .venv/lib/python3.11/site-packages/mediapipe

and writes ``kinestream/operators/models/pose_detection.onnx`` and
``pose_landmark_full.onnx``:

- the models keep some fp16 weights as sparse tensors behind DENSIFY ops, which neither
  tf2onnx nor the TFLite interpreter's ``get_tensor_details`` (a segfault in TF 2.15) handle:
  each DENSIFY op is replaced by its dense result, read from the TFLite interpreter itself,
  and the rewritten model is checked against the original like the ONNX one;
- tf2onnx converts each model at opset 13;
- unused outputs are dropped: the landmark model's segmentation mask, whose branch has
  batch 1 baked into its Reshape nodes (the batch dimension becomes dynamic only without it);
- inputs and outputs get names that say what they hold, constants canonical names, and the
  batch dimension becomes ``batch``; with those and a fixed ``PYTHONHASHSEED`` (the script
  sets it) a rebuild is byte-identical;
- each model is checked against the TFLite interpreter on fixed inputs (tolerances below,
  in the units of the outputs), and a batch of 8 against 8 single runs.

The TFLite files' sha256 must be those of mediapipe 0.10.21 (so the ONNX files are
reproducible from a known source); the script prints the ONNX files' sha256 for
``kinestream/operators/models/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

OPSET = 13
CHECK_BATCH = 8
OUT_DIR = Path(__file__).resolve().parents[2] / "kinestream" / "operators" / "models"


@dataclass(frozen=True)
class ModelSpec:
    """One TFLite model: where it lies in the wheel, its known hash, what to keep and how."""

    tflite: str
    sha256: str
    onnx_name: str
    input_name: str
    input_range: tuple[float, float]
    # TFLite output name -> (ONNX name, max absolute difference allowed against TFLite)
    outputs: dict[str, tuple[str, float]]


SPECS = (
    ModelSpec(
        tflite="modules/pose_detection/pose_detection.tflite",
        sha256="9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
        onnx_name="pose_detection.onnx",
        input_name="image",
        # pose_detection.pbtxt, ImageToTensorCalculator: output_tensor_float_range [-1, 1]
        input_range=(-1.0, 1.0),
        outputs={
            # 2254 anchors x 12: box (4) and 4 keypoints (x, y), in pixels of the 224 input
            "Identity": ("regressors", 1e-2),
            # 2254 raw scores (logits)
            "Identity_1": ("scores", 1e-3),
        },
    ),
    ModelSpec(
        tflite="modules/pose_landmark/pose_landmark_full.tflite",
        sha256="e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        onnx_name="pose_landmark_full.onnx",
        input_name="image",
        # pose_landmark_by_roi_cpu.pbtxt, ImageToTensorCalculator: range [0, 1]
        input_range=(0.0, 1.0),
        outputs={
            # 39 landmarks x (x, y, z, visibility, presence), pixels of the 256x256 crop
            "Identity": ("landmarks", 1e-2),
            # pose presence flag
            "Identity_1": ("pose_flag", 1e-5),
            # 64x64x39 heatmap logits that refine the landmarks x, y
            "Identity_3": ("heatmap", 1e-2),
            # 39 world landmarks x (x, y, z), metres
            "Identity_4": ("world_landmarks", 1e-4),
        },
    ),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mediapipe_root(given: Path | None) -> Path:
    if given is not None:
        return given
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("mediapipe not found; pass --mediapipe-root (its package directory)")
    return Path(next(iter(spec.submodule_search_locations)))


def densified(tflite_path: Path) -> bytes:
    """The model with every DENSIFY op replaced by a constant holding its dense output."""
    interpreter = tf.lite.Interpreter(
        model_path=str(tflite_path), experimental_preserve_all_tensors=True
    )
    interpreter.allocate_tensors()
    interpreter.invoke()
    model = flatbuffer_utils.read_model(str(tflite_path))
    graph = model.subgraphs[0]
    densify = {
        i
        for i, code in enumerate(model.operatorCodes)
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.DENSIFY
    }
    kept = []
    for op in graph.operators:
        if op.opcodeIndex not in densify:
            kept.append(op)
            continue
        sparse, dense = int(op.inputs[0]), int(op.outputs[0])
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(interpreter.get_tensor(dense).tobytes(), dtype=np.uint8)
        model.buffers.append(buffer)
        for index in (sparse, dense):  # the sparse input stays, unused, as a dense constant
            graph.tensors[index].buffer = len(model.buffers) - 1
            graph.tensors[index].sparsity = None
    graph.operators = kept
    print(f"  {tflite_path.name}: {len(graph.operators)} ops, DENSIFY replaced by constants")
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in [*graph.input, *graph.output]:
        if value.name == old:
            value.name = new


def free_batch_in_reshapes(graph: onnx.GraphProto) -> int:
    """Make Reshape nodes that pin the batch to 1 keep the input's batch (a leading 0)."""
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    constants = set(initializers) | {
        out for node in graph.node if node.op_type == "Constant" for out in node.output
    }
    freed = 0
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[0] in constants:
            continue
        shape_tensor = initializers.get(node.input[1])
        if shape_tensor is None:
            continue
        shape = onnx.numpy_helper.to_array(shape_tensor)
        if shape.size and shape[0] == 1:
            shape = shape.copy()
            shape[0] = 0
            shape_tensor.CopyFrom(onnx.numpy_helper.from_array(shape, shape_tensor.name))
            freed += 1
    return freed


def canonical_initializer_names(graph: onnx.GraphProto) -> None:
    """Name initializers by their first use, in node order: tf2onnx's generated names vary
    from run to run, and with canonical ones the same inputs give byte-identical files."""
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    names: dict[str, str] = {}
    for node in graph.node:
        for name in node.input:
            if name in initializers and name not in names:
                names[name] = f"const_{len(names)}"
    for node in graph.node:
        node.input[:] = [names.get(name, name) for name in node.input]
    ordered = sorted(initializers.values(), key=lambda tensor: int(names[tensor.name][6:]))
    for tensor in ordered:
        tensor.name = names[tensor.name]
    del graph.initializer[:]
    graph.initializer.extend(ordered)


def convert(spec: ModelSpec, dense_tflite: Path) -> onnx.ModelProto:
    """tf2onnx at opset 13, unused outputs pruned, named tensors, dynamic batch."""
    model, _ = tf2onnx.convert.from_tflite(str(dense_tflite), opset=OPSET)
    inputs = [value.name for value in model.graph.input]
    if len(inputs) != 1:
        raise RuntimeError(f"{spec.tflite}: expected one input, got {inputs}")
    model = onnx.utils.Extractor(model).extract_model(inputs, list(spec.outputs))
    graph = model.graph
    rename_tensor(graph, inputs[0], spec.input_name)
    for old, (new, _) in spec.outputs.items():
        rename_tensor(graph, old, new)
    canonical_initializer_names(graph)
    del graph.value_info[:]  # intermediate shapes recorded with batch 1
    print(f"  {spec.onnx_name}: {free_batch_in_reshapes(graph)} Reshape nodes freed of batch 1")
    for value in [*graph.input, *graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    model.producer_name = "kinestream infra/models/build_blazepose_onnx.py"
    onnx.checker.check_model(model, full_check=True)
    return model


def check(spec: ModelSpec, tflite_path: Path, dense: bytes, model: onnx.ModelProto) -> None:
    """Compare with the TFLite interpreter on fixed inputs; batch of 8 against single runs.

    The densified TFLite model and the ONNX one are both compared with the original.
    """
    interpreter = tf.lite.Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    dense_interpreter = tf.lite.Interpreter(model_content=dense)
    dense_interpreter.allocate_tensors()
    in_detail = interpreter.get_input_details()[0]
    out_index = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    low, high = spec.input_range
    rng = np.random.default_rng(14)
    shape = tuple(int(n) for n in in_detail["shape"][1:])
    # Smooth images (a coarse random field upsampled) look more like frames than pure noise.
    coarse = rng.uniform(low, high, size=(CHECK_BATCH, 8, 8, shape[2]))
    batch = np.repeat(np.repeat(coarse, shape[0] // 8, axis=1), shape[1] // 8, axis=2)
    batch = (batch + rng.normal(0.0, 0.05 * (high - low), batch.shape)).clip(low, high)
    batch = batch.astype(np.float32)
    names = [name for name, _ in spec.outputs.values()]
    batched = session.run(names, {spec.input_name: batch})
    for i in range(CHECK_BATCH):
        for runner in (interpreter, dense_interpreter):
            runner.set_tensor(in_detail["index"], batch[i : i + 1])
            runner.invoke()
        single = session.run(names, {spec.input_name: batch[i : i + 1]})
        for k, (tfl_name, (name, tolerance)) in enumerate(spec.outputs.items()):
            expected = interpreter.get_tensor(out_index[tfl_name])
            diffs = {
                "onnx - tflite": single[k] - expected,
                "densified - tflite": dense_interpreter.get_tensor(out_index[tfl_name]) - expected,
                "batch - single": batched[k][i : i + 1] - single[k],
            }
            worst = {label: float(np.abs(diff).max()) for label, diff in diffs.items()}
            print(
                f"  {spec.onnx_name} input {i} {name}: "
                + ", ".join(f"|{label}| {value:.1e}" for label, value in worst.items())
                + f" (allowed {tolerance:.0e})"
            )
            if not max(worst.values()) <= tolerance:
                raise RuntimeError(f"{spec.onnx_name} {name} differs beyond {tolerance}")


def main() -> None:
    if os.environ.get("PYTHONHASHSEED") != "0":  # tf2onnx orders nodes by string hashes
        os.execve(
            sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"}
        )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mediapipe-root", type=Path, help="the mediapipe package directory")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    root = mediapipe_root(args.mediapipe_root)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for spec in SPECS:
        tflite_path = root / spec.tflite
        digest = sha256(tflite_path)
        if digest != spec.sha256:
            sys.exit(f"{tflite_path}: sha256 {digest}, expected mediapipe 0.10.21's {spec.sha256}")
        dense = densified(tflite_path)
        with tempfile.TemporaryDirectory() as tmp:
            dense_path = Path(tmp) / tflite_path.name
            dense_path.write_bytes(dense)
            model = convert(spec, dense_path)
        check(spec, tflite_path, dense, model)
        out = args.out_dir / spec.onnx_name
        onnx.save(model, out)
        print(f"{out}: sha256 {sha256(out)} (from {spec.tflite}, sha256 {digest})")
    print(
        f"tensorflow {tf.__version__}, tf2onnx {tf2onnx.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {ort.__version__}, opset {OPSET}"
    )


if __name__ == "__main__":
    main()
