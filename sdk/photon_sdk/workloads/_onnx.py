"""Read a user's ONNX model as a workload: its MatMul, Gemm and Conv nodes, with their weights.

Needs the 'onnx' extra. Shapes come from ONNX shape inference; a dimension left symbolic
(a dynamic batch) counts as 1. Each product becomes one :class:`Gemm`:

* ``Gemm`` (A · B, ``transA``/``transB`` honoured): M, K from A, N from B;
* ``MatMul`` (A · B, numpy broadcasting): the leading dimensions of A multiply M; when B is a
  weight (an initializer) it is W; when only A is, the product is read as (Bᵀ · Aᵀ)ᵀ so the
  mesh holds Aᵀ; when neither is, both are activations and B's leading dimensions are the
  batch (attention);
* ``Conv`` (2-D or 1-D, ``group`` honoured): im2col, K = C_in/group · kernel, N = C_out/group,
  M = output positions x batch, one matrix per group.

Weights are the initializers, when the node's weight input is one. Dependencies follow the
dataflow: a GEMM comes after the nearest GEMMs upstream of any of its inputs, through any
other operators.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._gemm import Gemm, Workload, WorkloadError, from_gemms

__all__ = ["from_onnx"]


def from_onnx(path: str | os.PathLike[str], *, name: str | None = None) -> Workload:
    """Build a workload from the MatMul, Gemm and Conv nodes of an ONNX model file.

    Raises:
        WorkloadError: the model has no such node, or a node's shapes cannot be inferred.
        ImportError: the 'onnx' extra is not installed (the message says so).
    """
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError as exc:
        raise ImportError(
            "from_onnx needs the onnx package, in the 'onnx' extra: pip install 'photond[onnx]'"
        ) from exc
    model = shape_inference.infer_shapes(onnx.load(os.fspath(path)))
    graph = model.graph
    weights = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    shapes: dict[str, tuple[int, ...]] = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        dims = info.type.tensor_type.shape.dim
        # A symbolic or unknown dimension (a dynamic batch) counts as 1.
        shapes[info.name] = tuple(d.dim_value if d.dim_value > 0 else 1 for d in dims)
    shapes.update({k: v.shape for k, v in weights.items()})
    gemms: list[Gemm] = []
    sources: dict[str, frozenset[str]] = {}  # tensor -> the nearest GEMMs it comes from
    for index, node in enumerate(graph.node):
        upstream = frozenset().union(*(sources.get(t, frozenset()) for t in node.input))
        if node.op_type in ("MatMul", "Gemm", "Conv"):
            gemm_name = node.name or f"{node.op_type.lower()}_{index}"
            if any(g.name == gemm_name for g in gemms):
                gemm_name = f"{gemm_name}_{index}"
            where = f"node {gemm_name!r} ({node.op_type})"
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            read = _READERS[node.op_type]
            fields = read(node, attrs, shapes, weights, where)
            gemms.append(
                Gemm(name=gemm_name, after=tuple(sorted(upstream)), **fields)  # type: ignore[arg-type]
            )
            upstream = frozenset({gemm_name})
        for tensor in node.output:
            sources[tensor] = upstream
    if not gemms:
        raise WorkloadError(f"{os.fspath(path)}: no MatMul, Gemm or Conv node")
    return from_gemms(gemms, name=name or graph.name or "onnx")


def _shape(shapes: dict[str, tuple[int, ...]], tensor: str, where: str) -> tuple[int, ...]:
    if tensor not in shapes or not shapes[tensor]:
        raise WorkloadError(f"{where}: the shape of input {tensor!r} is unknown")
    return shapes[tensor]


def _gemm_node(
    node: Any,
    attrs: dict[str, Any],
    shapes: dict[str, tuple[int, ...]],
    weights: dict[str, NDArray[np.float64]],
    where: str,
) -> dict[str, object]:
    a, b = node.input[0], node.input[1]
    (m, k) = _shape(shapes, a, where)[::-1] if attrs.get("transA", 0) else _shape(shapes, a, where)
    b_shape = _shape(shapes, b, where)
    n = b_shape[0] if attrs.get("transB", 0) else b_shape[1]
    w = weights.get(b)
    if w is not None and attrs.get("transB", 0):
        w = w.T
    return {
        "m": m,
        "k": k,
        "n": n,
        "weights": w,
        "operand": "weight" if w is not None else "activation",
    }


def _matmul_node(
    node: Any,
    attrs: dict[str, Any],
    shapes: dict[str, tuple[int, ...]],
    weights: dict[str, NDArray[np.float64]],
    where: str,
) -> dict[str, object]:
    a, b = node.input[0], node.input[1]
    a_shape, b_shape = _shape(shapes, a, where), _shape(shapes, b, where)
    if len(a_shape) == 1:
        a_shape = (1, *a_shape)
    if len(b_shape) == 1:
        b_shape = (*b_shape, 1)
    if b in weights and len(b_shape) == 2:
        return {
            "m": math.prod(a_shape[:-1]),
            "k": b_shape[0],
            "n": b_shape[1],
            "weights": weights[b].reshape(b_shape),
        }
    if a in weights and len(a_shape) == 2:
        # Y = A·B with A fixed: each column of B is an input vector; the mesh holds Aᵀ.
        return {
            "m": math.prod(b_shape[:-2]) * b_shape[-1],
            "k": a_shape[1],
            "n": a_shape[0],
            "weights": weights[a].reshape(a_shape).T,
        }
    batch = math.prod(b_shape[:-2])
    m = math.prod(a_shape[:-1]) // max(1, batch)
    return {
        "m": max(1, m),
        "k": b_shape[-2],
        "n": b_shape[-1],
        "batch": batch,
        "operand": "activation",
    }


def _conv_node(
    node: Any,
    attrs: dict[str, Any],
    shapes: dict[str, tuple[int, ...]],
    weights: dict[str, NDArray[np.float64]],
    where: str,
) -> dict[str, object]:
    w_name, out = node.input[1], node.output[0]
    w_shape = _shape(shapes, w_name, where)  # (C_out, C_in / group, *kernel)
    out_shape = _shape(shapes, out, where)  # (batch, C_out, *spatial)
    group = int(attrs.get("group", 1))
    c_out = w_shape[0]
    k = math.prod(w_shape[1:])
    n = c_out // group
    m = out_shape[0] * math.prod(out_shape[2:])
    fields: dict[str, object] = {"m": m, "k": k, "n": n, "batch": group}
    if w_name in weights:
        # (C_out, C_in/g, *kernel) -> (group, K, N): im2col rows in (C_in, kernel) order.
        w = weights[w_name].reshape(group, n, k).transpose(0, 2, 1)
        fields["weights"] = w[0] if group == 1 else w
    else:
        fields["operand"] = "activation"
    return fields


_READERS = {"Gemm": _gemm_node, "MatMul": _matmul_node, "Conv": _conv_node}
