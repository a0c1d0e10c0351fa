"""photon_sdk.workloads.from_onnx on small ONNX models built here with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from photon_drivers.profile.reader import load_profile
from photon_sdk.workloads import Mesh, WorkloadError, from_onnx, tile_powers_mw, to_task_graph


def save(
    tmp_path: Path,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto],
) -> Path:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def test_conv_gemm_matmul_shapes_weights_and_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    conv_w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)  # C_out, C_in, kh, kw
    fc_w = rng.normal(size=(10, 256)).astype(np.float32)  # Gemm with transB: (N, K)
    head_w = rng.normal(size=(10, 5)).astype(np.float32)
    path = save(
        tmp_path,
        [
            helper.make_node("Conv", ["x", "conv_w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("Flatten", ["r"], ["f"]),
            helper.make_node("Gemm", ["f", "fc_w"], ["g"], name="fc", transB=1),
            helper.make_node("MatMul", ["g", "head_w"], ["y"], name="head"),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])],
        [
            numpy_helper.from_array(conv_w, "conv_w"),
            numpy_helper.from_array(fc_w, "fc_w"),
            numpy_helper.from_array(head_w, "head_w"),
        ],
    )
    workload = from_onnx(path)
    conv, fc, head = workload.gemms
    # The symbolic batch counts as 1: 8 x 8 output positions, im2col K = 3 * 3 * 3.
    assert (conv.name, conv.m, conv.k, conv.n, conv.after) == ("conv", 64, 27, 4, ())
    assert conv.weights is not None
    assert np.allclose(conv.weights, conv_w.reshape(4, 27).T.astype(np.float64))
    assert (fc.m, fc.k, fc.n, fc.after) == (1, 256, 10, ("conv",))
    assert fc.weights is not None and np.allclose(fc.weights, fc_w.T)
    assert (head.m, head.k, head.n, head.after) == (1, 10, 5, ("fc",))
    assert head.weights is not None and np.allclose(head.weights, head_w)


def test_the_models_weights_set_the_heater_powers(tmp_path: Path) -> None:
    profile = load_profile()
    w = np.random.default_rng(3).normal(size=(8, 8)).astype(np.float32)
    path = save(
        tmp_path,
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(w, "w")],
    )
    graph = to_task_graph(from_onnx(path), profile, seed=1)
    other_seed = to_task_graph(from_onnx(path), profile, seed=2)
    assert graph == other_seed  # given weights: the seed plays no part
    mesh = Mesh.from_device(profile)
    expected = tile_powers_mw(w.T.astype(np.float64)[None], mesh)[0].mean(axis=0)
    got = np.array([graph.task("mm#0").heater_power_mw.get(h, 0.0) for h in mesh.heater_ids])
    assert np.allclose(got, expected, atol=1e-6)


def test_activation_matmul_and_grouped_conv(tmp_path: Path) -> None:
    conv_w = np.ones((6, 1, 3, 3), dtype=np.float32)  # depthwise-like: group 6 (C_in 6)
    path = save(
        tmp_path,
        [
            helper.make_node("Conv", ["x", "w"], ["c"], name="dw", group=6),
            helper.make_node("Reshape", ["c", "shape"], ["q"]),
            helper.make_node("Transpose", ["q"], ["kt"], perm=[0, 2, 1]),
            helper.make_node("MatMul", ["q", "kt"], ["s"], name="scores"),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 5, 5])],
        [helper.make_tensor_value_info("s", TensorProto.FLOAT, [6, 9, 9])],
        [
            numpy_helper.from_array(conv_w, "w"),
            numpy_helper.from_array(np.array([6, 9, 1], dtype=np.int64), "shape"),
        ],
    )
    dw, scores = from_onnx(path).gemms
    assert (dw.m, dw.k, dw.n, dw.batch) == (9, 9, 1, 6)
    assert dw.weights is not None and dw.weights.shape == (6, 9, 1)
    assert (scores.m, scores.k, scores.n, scores.batch) == (9, 1, 9, 6)
    assert scores.operand == "activation" and scores.weights is None
    assert scores.after == ("dw",)


def test_a_model_without_products_is_refused(tmp_path: Path) -> None:
    path = save(
        tmp_path,
        [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [],
    )
    with pytest.raises(WorkloadError, match="no MatMul, Gemm or Conv"):
        from_onnx(path)
