"""What a device profile holds: the chip's parts and limits, as frozen values.

A profile is everything the daemon knows about a chip without talking to it: the die and its
layer stack, the package, the heaters, zones, lanes and sensors, and the operating limits.
Drivers describe their device with one; the planner and the thermal model are built from one.
`reader` builds one from TOML and checks it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType


class ProfileError(ValueError):
    """A profile file is malformed; the message names the key."""


@dataclass(frozen=True)
class HeaterSpec:
    id: str
    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float
    max_power_mw: float
    pi_power_mw: float
    waveguide_length_mm: float


@dataclass(frozen=True)
class ZoneSpec:
    id: str
    heater_ids: tuple[str, ...]


@dataclass(frozen=True)
class LaneSpec:
    id: str
    kind: str
    wavelength_nm: float


@dataclass(frozen=True)
class SensorSpec:
    id: str
    x_mm: float
    y_mm: float
    noise_c: float
    resolution_c: float
    min_sample_period_s: float


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the vertical stack, listed top (heaters) first."""

    name: str
    thickness_mm: float
    conductivity_w_per_m_k: float
    volumetric_heat_capacity_j_per_m3_k: float


@dataclass(frozen=True)
class PackageSpec:
    """The path from the bottom of the die to ambient, lumped into one node."""

    die_to_ambient_k_per_w: float
    heat_capacity_j_per_k: float


@dataclass(frozen=True)
class LimitsSpec:
    max_device_temperature_c: float = 85.0
    max_thermal_gradient_c_per_mm: float = 5.0
    max_power_density_mw_per_mm2: float = 100.0
    interlock_temperature_c: float = 95.0
    interlock_hysteresis_c: float = 5.0


@dataclass(frozen=True)
class ThermalSource:
    """A chip described in HotSpot's formats, the way thermal engineers already have it.

    Paths are absolute (resolved against the profile file). The plant is HotSpot's grid model
    of this case at `grid_rows` x `grid_cols` (the config's own, unless the profile sets them).
    """

    config: Path
    floorplan: Path | None
    layers: Path | None
    grid_rows: int | None
    grid_cols: int | None


@dataclass(frozen=True)
class DeviceProfile:
    model: str
    die_width_mm: float
    die_height_mm: float
    ambient_c: float
    max_optical_power_mw: float
    layers: tuple[LayerSpec, ...]
    package: PackageSpec
    heaters: tuple[HeaterSpec, ...]
    zones: tuple[ZoneSpec, ...]
    lanes: tuple[LaneSpec, ...]
    sensors: tuple[SensorSpec, ...]
    limits: LimitsSpec
    # Lateral resolution of the simulated chip's thermal grid (TOML stack only).
    grid_cols: int
    grid_rows: int
    # The HotSpot description the plant is built from; None: built from `layers`/`package`.
    thermal: ThermalSource | None = None

    def heater(self, heater_id: str) -> HeaterSpec:
        for heater in self.heaters:
            if heater.id == heater_id:
                return heater
        raise KeyError(heater_id)

    def zone(self, zone_id: str) -> ZoneSpec:
        for zone in self.zones:
            if zone.id == zone_id:
                return zone
        raise KeyError(zone_id)

    @functools.cached_property
    def heater_cell_area_mm2(self) -> Mapping[str, float]:
        """The area over which each heater's power density is capped, by heater id.

        A heater's cell is the square whose side is the distance from its centre to the
        nearest other heater's centre (the mesh pitch: 0.625 mm, 0.39 mm² on the default
        profile); a lone heater's cell is its own footprint. Computed once per profile: the
        profile is frozen, and `dataclasses.replace` makes a new one with its own cache.
        """
        if len(self.heaters) == 1:
            (only,) = self.heaters
            return MappingProxyType({only.id: only.width_mm * only.height_mm})
        areas: dict[str, float] = {}
        for heater in self.heaters:
            # All pairs: a few thousand distances for a mesh of tens of heaters, computed once.
            pitch_mm = min(
                math.dist((heater.x_mm, heater.y_mm), (other.x_mm, other.y_mm))
                for other in self.heaters
                if other is not heater
            )
            areas[heater.id] = pitch_mm * pitch_mm
        return MappingProxyType(areas)
