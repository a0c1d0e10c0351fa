"""Neural-network workloads as task graphs for a photonic mesh (needs the 'workloads' extra).

Build a workload from published layer shapes (:func:`resnet50`, :func:`bert_base`,
:func:`gpt2_small`), from your own GEMMs (:func:`from_gemms`) or from an ONNX model
(:func:`from_onnx`, the 'onnx' extra), then map it onto a device::

    from photon_sdk import Client
    from photon_sdk.workloads import resnet50, to_task_graph

    with Client() as client:
        device = client.describe_device("sim0")
        graph = to_task_graph(resnet50(), device)
        client.submit_job(graph)

The mapping (tiles, SVD, Clements phases, heater powers, grouping, durations) and every
assumption behind it are in docs/workloads.md. numpy is this package's only dependency beyond
the SDK's; nothing here talks to the daemon.
"""

from __future__ import annotations

from ._gemm import Gemm as Gemm
from ._gemm import Workload as Workload
from ._gemm import WorkloadError as WorkloadError
from ._gemm import from_gemms as from_gemms
from ._mapping import DEFAULT_SETTLE_S as DEFAULT_SETTLE_S
from ._mapping import DEFAULT_SYMBOL_RATE_HZ as DEFAULT_SYMBOL_RATE_HZ
from ._mapping import DEFAULT_TILES_PER_TASK as DEFAULT_TILES_PER_TASK
from ._mapping import tile_powers_mw as tile_powers_mw
from ._mapping import to_task_graph as to_task_graph
from ._mesh import DeviceLike as DeviceLike
from ._mesh import Mesh as Mesh
from ._models import MODELS as MODELS
from ._models import bert_base as bert_base
from ._models import gpt2_small as gpt2_small
from ._models import resnet50 as resnet50
from ._onnx import from_onnx as from_onnx

__all__ = [
    "DEFAULT_SETTLE_S",
    "DEFAULT_SYMBOL_RATE_HZ",
    "DEFAULT_TILES_PER_TASK",
    "MODELS",
    "DeviceLike",
    "Gemm",
    "Mesh",
    "Workload",
    "WorkloadError",
    "bert_base",
    "from_gemms",
    "from_onnx",
    "gpt2_small",
    "resnet50",
    "tile_powers_mw",
    "to_task_graph",
]
