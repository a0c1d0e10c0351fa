"""The thermal plant: HotSpot-compatible block and grid RC models of a chip and its package.

This is the physics behind the simulated chip. It reads HotSpot's inputs (`.config`, `.flp`,
`.ptrace`, `.lcf`), builds HotSpot 7's block or grid network formula for formula, and solves
it exactly: steady state by sparse LU, transients by the matrix exponential (block model) or
the L-stable TR-BDF2 scheme on a factorised sparse system (grid model). The command
`python -m photon_drivers.plant.hotspot --help` runs a case and writes HotSpot-format files.

Python API::

    from photon_drivers.plant.hotspot import load_case, build_network, steady_state, Transient

    case = load_case("v1_grid8.config", "v1_grid8.flp")   # or ThermalCase(...) directly
    net = build_network(case, "block")                     # or "grid"; PlantNetwork
    temps_k = steady_state(net, power_w)                   # power_w in net.block_names order
    blocks_k = net.block_readout @ temps_k
    sim = Transient(net, initial_temperature_k=case.init_temp_k)
    blocks_k = sim.advance(power_w, dt_s=1e-3)             # exact for power held over dt_s

`PlantNetwork` holds plain matrices — `capacitance_j_per_k` (n,), `conductance_w_per_k`
(sparse symmetric, W/K, zero diagonal), `to_ambient_w_per_k` (n,), `power_injection`
(n x blocks), `block_readout` (blocks x n), `node_names`, `block_names`, and the rows of
HotSpot's `.steady` (`report_names`, `report_readout`) — so the compact model can be derived
from the same network the plant integrates. Temperatures are kelvin throughout, as in HotSpot.

Errors: every bad input raises `ThermalInputError` (a ValueError) naming file and line.
"""

from photon_drivers.plant.hotspot._case import LayerSpec as LayerSpec
from photon_drivers.plant.hotspot._case import PackageSpec as PackageSpec
from photon_drivers.plant.hotspot._case import ThermalCase as ThermalCase
from photon_drivers.plant.hotspot._case import load_case as load_case
from photon_drivers.plant.hotspot._config import HotSpotConfig as HotSpotConfig
from photon_drivers.plant.hotspot._config import LcfLayer as LcfLayer
from photon_drivers.plant.hotspot._config import read_config as read_config
from photon_drivers.plant.hotspot._config import read_lcf as read_lcf
from photon_drivers.plant.hotspot._errors import ThermalInputError as ThermalInputError
from photon_drivers.plant.hotspot._floorplan import Block as Block
from photon_drivers.plant.hotspot._floorplan import Floorplan as Floorplan
from photon_drivers.plant.hotspot._floorplan import read_flp as read_flp
from photon_drivers.plant.hotspot._floorplan import write_flp as write_flp
from photon_drivers.plant.hotspot._network import PlantNetwork as PlantNetwork
from photon_drivers.plant.hotspot._run import build_network as build_network
from photon_drivers.plant.hotspot._run import power_rows as power_rows
from photon_drivers.plant.hotspot._steady import SteadySolver as SteadySolver
from photon_drivers.plant.hotspot._steady import steady_state as steady_state
from photon_drivers.plant.hotspot._traces import Trace as Trace
from photon_drivers.plant.hotspot._traces import read_grid_cells as read_grid_cells
from photon_drivers.plant.hotspot._traces import read_steady as read_steady
from photon_drivers.plant.hotspot._traces import read_trace as read_trace
from photon_drivers.plant.hotspot._traces import write_grid_cells as write_grid_cells
from photon_drivers.plant.hotspot._traces import write_steady as write_steady
from photon_drivers.plant.hotspot._traces import write_trace as write_trace
from photon_drivers.plant.hotspot._transient import Transient as Transient

__all__ = [
    "Block", "Floorplan", "HotSpotConfig", "LayerSpec", "LcfLayer", "PackageSpec",
    "PlantNetwork", "SteadySolver", "ThermalCase", "ThermalInputError", "Trace", "Transient",
    "build_network", "load_case", "power_rows", "read_config", "read_flp", "read_grid_cells",
    "read_lcf", "read_steady", "read_trace", "steady_state", "write_flp", "write_grid_cells",
    "write_steady", "write_trace",
]  # fmt: skip
