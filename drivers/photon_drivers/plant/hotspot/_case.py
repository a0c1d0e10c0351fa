"""A thermal case: the die's layers and floorplans, the package, and the run settings.

`ThermalCase` is the typed, unit-named form of what HotSpot spreads over a `.config`, a
`.flp` and optionally a `.lcf`. The simulated chip builds one directly from its device
profile; `load_case` builds one from HotSpot files, checking up front everything the network
builders rely on (positive sizes, a package wider than the die), so failures name a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from photon_drivers.plant.hotspot._config import (
    HotSpotConfig,
    read_config,
    read_lcf,
    resolve_relative,
)
from photon_drivers.plant.hotspot._errors import ThermalInputError
from photon_drivers.plant.hotspot._floorplan import TOLERANCE_M, Floorplan, read_flp

ModelKind = Literal["block", "grid"]
MapMode = Literal["avg", "center"]


@dataclass(frozen=True)
class LayerSpec:
    """One die layer above the spreader: material, thickness and its floorplan.

    `prefix` is the name prefix HotSpot uses for this layer's rows in a `.steady` file
    ("" for the silicon of the default stack, "iface_", or "layer_N_" with a layer file).
    """

    prefix: str
    thickness_m: float
    conductivity_w_per_mk: float
    heat_capacity_j_per_m3k: float
    floorplan: Floorplan
    has_lateral: bool = True
    has_power: bool = False


@dataclass(frozen=True)
class PackageSpec:
    """Spreader, heat sink and convection, as HotSpot's config keys (SI units)."""

    spreader_side_m: float
    spreader_thickness_m: float
    spreader_conductivity_w_per_mk: float
    spreader_heat_capacity_j_per_m3k: float
    sink_side_m: float
    sink_thickness_m: float
    sink_conductivity_w_per_mk: float
    sink_heat_capacity_j_per_m3k: float
    convection_resistance_k_per_w: float
    convection_capacitance_j_per_k: float


@dataclass(frozen=True)
class ThermalCase:
    """Everything needed to build a plant network and run it.

    Attributes:
        layers: the die layers from top to bottom (the spreader and sink follow them).
        package: the spreader/sink/convection description.
        ambient_k: ambient temperature, a boundary condition, not a node.
        init_temp_k: temperature of every node when a transient starts (None: not given).
        sampling_interval_s: duration of one power-trace row (None: not given).
        model: which discretisation `build_network` uses by default.
        grid_rows, grid_cols: grid resolution (grid model).
        grid_map_mode: how block temperatures are read off cells ("avg" or "center").
        omit_chip_lateral: block model only — HotSpot's `block_omit_lateral`.
        layer_file: True when the stack came from a `.lcf` (changes output names).
    """

    layers: tuple[LayerSpec, ...]
    package: PackageSpec
    ambient_k: float
    init_temp_k: float | None = None
    sampling_interval_s: float | None = None
    model: ModelKind = "block"
    grid_rows: int = 64
    grid_cols: int = 64
    grid_map_mode: MapMode = "avg"
    omit_chip_lateral: bool = False
    layer_file: bool = False

    def __post_init__(self) -> None:
        if not self.layers:
            raise ThermalInputError("a case needs at least one die layer")
        die = self.layers[0].floorplan
        for layer in self.layers[1:]:
            fp = layer.floorplan
            if (
                abs(fp.width_m - die.width_m) > TOLERANCE_M
                or abs(fp.height_m - die.height_m) > TOLERANCE_M
            ):
                raise ThermalInputError("width and height differ across layers", fp.source)
        p = self.package
        for side, what in ((p.spreader_side_m, "s_spreader"), (p.sink_side_m, "s_sink")):
            if side <= max(die.width_m, die.height_m):
                raise ThermalInputError(
                    f"-{what} {side} m must exceed the die ({die.width_m} x {die.height_m} m)"
                )
        if p.sink_side_m <= p.spreader_side_m:
            raise ThermalInputError("-s_sink must exceed -s_spreader")
        if self.grid_rows <= 0 or self.grid_cols <= 0:
            raise ThermalInputError("grid rows and columns must be > 0")

    @property
    def floorplan(self) -> Floorplan:
        """The top layer's floorplan: the die outline and, by default, the heated blocks."""
        return self.layers[0].floorplan


def _package(config: HotSpotConfig) -> PackageSpec:
    need = "the package"
    return PackageSpec(
        spreader_side_m=config.number("s_spreader", need),
        spreader_thickness_m=config.number("t_spreader", need),
        spreader_conductivity_w_per_mk=config.number("k_spreader", need),
        spreader_heat_capacity_j_per_m3k=config.number("p_spreader", need),
        sink_side_m=config.number("s_sink", need),
        sink_thickness_m=config.number("t_sink", need),
        sink_conductivity_w_per_mk=config.number("k_sink", need),
        sink_heat_capacity_j_per_m3k=config.number("p_sink", need),
        convection_resistance_k_per_w=config.number("r_convec", need),
        convection_capacitance_j_per_k=config.number("c_convec", need),
    )


def load_case(
    config_path: str | Path,
    flp_path: str | Path | None = None,
    lcf_path: str | Path | None = None,
    model: ModelKind | None = None,
) -> ThermalCase:
    """Build a case from HotSpot files, as the `hotspot` command would read them.

    Args:
        config_path: the `.config` file.
        flp_path: the die floorplan; defaults to the layer file's top-layer floorplan.
        lcf_path: a layer file; defaults to the config's `-grid_layer_file` (grid model).
        model: "block" or "grid"; defaults to the config's `-model_type` (else block).

    Raises:
        ThermalInputError: any file missing or malformed, a required key missing, or an
            inconsistent case (e.g. a layer file with the block model).
    """
    config = read_config(config_path)
    config_file = Path(config_path)
    chosen = model or config.text("model_type", "block")
    if chosen not in ("block", "grid"):
        raise ThermalInputError(
            f"-model_type {chosen!r}: use block or grid", config_file, config.line_of("model_type")
        )
    if lcf_path is None and chosen == "grid" and config.has("grid_layer_file"):
        name = config.text("grid_layer_file", "")
        if name not in ("(null)", "NULL", "null", ""):
            lcf_path = resolve_relative(name, config_file)
    if lcf_path is not None and chosen == "block":
        raise ThermalInputError("a layer file (.lcf) applies to the grid model only", lcf_path)

    layers: list[LayerSpec]
    if lcf_path is not None:
        lcf = read_lcf(lcf_path)
        layers = []
        for spec in lcf:
            layers.append(
                LayerSpec(
                    prefix=f"layer_{spec.index}_",
                    thickness_m=spec.thickness_m,
                    conductivity_w_per_mk=1.0 / spec.resistivity_mk_per_w,
                    heat_capacity_j_per_m3k=spec.heat_capacity_j_per_m3k,
                    floorplan=read_flp(spec.floorplan_path),
                    has_lateral=spec.has_lateral,
                    has_power=spec.has_power,
                )
            )
        if flp_path is not None:
            given = read_flp(flp_path)
            die = layers[0].floorplan
            if (
                abs(given.width_m - die.width_m) > TOLERANCE_M
                or abs(given.height_m - die.height_m) > TOLERANCE_M
            ):
                raise ThermalInputError(
                    "die size differs from the layer file's floorplans", flp_path
                )
    else:
        if flp_path is None:
            raise ThermalInputError("no floorplan: pass --flp (or a layer file)", config_file)
        die = read_flp(flp_path)
        need = "the default chip/interface stack (no layer file)"
        layers = [
            LayerSpec("", config.number("t_chip", need), config.number("k_chip", need),
                      config.number("p_chip", need), die, has_power=True),
            LayerSpec("iface_", config.number("t_interface", need),
                      config.number("k_interface", need), config.number("p_interface", need), die),
        ]  # fmt: skip
    for layer in layers:
        if min(layer.thickness_m, layer.conductivity_w_per_mk, layer.heat_capacity_j_per_m3k) <= 0:
            raise ThermalInputError(
                f"layer {layer.prefix or 'chip'}: thickness, k and heat capacity must be > 0",
                config_file,
            )
    map_mode = config.text("grid_map_mode", "center")
    if map_mode not in ("avg", "center"):
        raise ThermalInputError(
            f"-grid_map_mode {map_mode!r}: only avg and center are supported",
            config_file, config.line_of("grid_map_mode"),
        )  # fmt: skip
    return ThermalCase(
        layers=tuple(layers),
        package=_package(config),
        ambient_k=config.number("ambient", "the boundary condition"),
        init_temp_k=config.number("init_temp", "a transient") if config.has("init_temp") else None,
        sampling_interval_s=(
            config.number("sampling_intvl", "a transient") if config.has("sampling_intvl") else None
        ),
        model=chosen,  # type: ignore[arg-type]
        grid_rows=config.integer("grid_rows", None if chosen == "grid" else 64, "the grid model"),
        grid_cols=config.integer("grid_cols", None if chosen == "grid" else 64, "the grid model"),
        grid_map_mode=map_mode,  # type: ignore[arg-type]
        omit_chip_lateral=config.integer("block_omit_lateral", 0, "the block model") != 0,
        layer_file=lcf_path is not None,
    )
