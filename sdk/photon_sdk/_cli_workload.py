"""``photonctl submit --workload NAME``: a model's task graph, built for the device it runs on.

Apart from cli.py so that photonctl imports without numpy: photon_sdk.workloads (the
'workloads' extra) is imported only when a workload is asked for, and its absence is reported
as a usage error that names the extra.
"""

from __future__ import annotations

import sys

from ._client import Client
from ._errors import GraphError
from .graph import TaskGraph

__all__ = ["MissingWorkloadsExtra", "workload_graph"]


class MissingWorkloadsExtra(RuntimeError):
    """numpy (the 'workloads' extra) is not installed; the message says what to install."""


def workload_graph(client: Client, name: str, layers: int | None, device_id: str) -> TaskGraph:
    """Map model ``name`` (its first ``layers`` GEMMs, or all) onto the device it will run on.

    The device is ``device_id``, or the daemon's only one; its description (heaters, P_π,
    maxima, lanes) comes from the daemon, so the graph fits the chip that will run it.

    Raises:
        MissingWorkloadsExtra: numpy is not installed.
        GraphError: an unknown model, a bad ``layers``, or a device the mapping cannot use
            (no N x N heater grid); the field is ``workload``, ``layers`` or ``device``.
    """
    try:
        from . import workloads
    except ImportError as exc:
        raise MissingWorkloadsExtra(
            "--workload needs numpy, in the 'workloads' extra: pip install 'photond[workloads]'"
        ) from exc
    if name not in workloads.MODELS:
        raise GraphError(
            "workload", f"unknown model {name!r}; one of {', '.join(workloads.MODELS)}"
        )
    workload = workloads.MODELS[name]()
    if layers is not None:
        if layers < 1:
            raise GraphError("layers", f"must be at least 1, got {layers}")
        workload = workload.first(layers)
    devices = client.list_devices()
    chosen = [d for d in devices if d.id == device_id] if device_id else devices
    if len(chosen) != 1:
        known = ", ".join(d.id for d in devices) or "none"
        what = f"no device {device_id!r}" if device_id else "more than one device"
        raise GraphError("device", f"{what} (devices: {known}); name one with --device")
    device = chosen[0]
    try:
        size = workloads.Mesh.from_device(device).size
        # Mapping a whole model takes seconds to minutes (an SVD, two decompositions per tile).
        tiles = workload.tiles(size)
        print(
            f"photonctl: mapping {workload.name} ({tiles:,} tiles) onto {device.id}",
            file=sys.stderr,
        )
        return workloads.to_task_graph(workload, device)
    except workloads.WorkloadError as exc:
        raise GraphError("device", str(exc)) from exc
