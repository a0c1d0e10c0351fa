"""The command: run a HotSpot case (config, floorplan, power trace, layer file) and write
HotSpot-format results.

    python -m photon_drivers.plant.hotspot --config C [--flp F] --ptrace P [--lcf L]
        [--model block|grid] [--steady-file S] [--grid-steady-file G] [--trace-file T]

`--steady-file` gets the steady state under the trace's average power (every layer's blocks,
then the package nodes), `--grid-steady-file` the grid model's cells per layer, and
`--trace-file` (HotSpot's `-o`) the block temperatures after each trace row, starting from
`init_temp`. With no output file the steady block temperatures go to standard output. Bad
input exits with status 2 and a message naming the file and line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from photon_drivers.plant.hotspot._case import load_case
from photon_drivers.plant.hotspot._errors import ThermalInputError
from photon_drivers.plant.hotspot._run import (
    build_network,
    power_rows,
    steady_from_trace,
    transient_from_trace,
)
from photon_drivers.plant.hotspot._traces import (
    read_trace,
    write_grid_cells,
    write_steady,
    write_trace,
)
from photon_drivers.plant.hotspot._transient import DEFAULT_MAX_SUBSTEP_S

PROG = "python -m photon_drivers.plant.hotspot"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Chip thermal plant on HotSpot inputs.")
    p.add_argument("--config", required=True, help="HotSpot .config file (-key value lines)")
    p.add_argument("--flp", help="floorplan (.flp); default: the layer file's top floorplan")
    p.add_argument("--ptrace", required=True, help="power trace (.ptrace), W per block per row")
    p.add_argument("--lcf", help="layer file (.lcf), grid model; default: -grid_layer_file")
    p.add_argument("--model", choices=("block", "grid"), help="override the config's -model_type")
    p.add_argument("--steady-file", help="write steady temperatures (HotSpot .steady)")
    p.add_argument("--grid-steady-file", help="write steady cell temperatures (grid model)")
    p.add_argument("--trace-file", help="write the transient block temperatures (.ttrace)")
    p.add_argument(
        "--max-substep-s",
        type=float,
        default=DEFAULT_MAX_SUBSTEP_S,
        help="large networks (TR-BDF2): longest internal step in seconds (default 1e-4)",
    )
    return p


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    case = load_case(args.config, args.flp, args.lcf, args.model)
    if args.grid_steady_file and case.model != "grid":
        raise ThermalInputError("--grid-steady-file needs the grid model (--model grid)")
    network = build_network(case)
    powers = power_rows(network, read_trace(args.ptrace), args.ptrace)
    want_steady = args.steady_file or args.grid_steady_file or not args.trace_file
    if want_steady:
        temps = steady_from_trace(network, powers)
        if args.steady_file:
            write_steady(args.steady_file, network.report_names, network.report_readout @ temps)
        if args.grid_steady_file:
            assert network.grid_shape is not None
            layers, rows, cols = network.grid_shape
            cells = temps[: layers * rows * cols].reshape(layers, rows * cols)
            write_grid_cells(args.grid_steady_file, list(cells))
        if not (args.steady_file or args.grid_steady_file):
            for name, t in zip(network.block_names, network.block_readout @ temps, strict=True):
                sys.stdout.write(f"{name}\t{t:.6f}\n")
    if args.trace_file:
        out = transient_from_trace(network, case, powers, "auto", args.max_substep_s)
        write_trace(args.trace_file, network.block_names, out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run, turning input errors into one line on stderr and exit status 2."""
    try:
        return run(argv)
    except ThermalInputError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    except np.linalg.LinAlgError as exc:  # pragma: no cover - a network without a path to ambient
        sys.stderr.write(f"{PROG}: error: singular network: {exc}\n")
        return 2
