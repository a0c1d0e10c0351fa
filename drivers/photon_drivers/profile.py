"""Device profiles: what a chip is made of, loaded from TOML and checked before use.

A profile is everything the daemon knows about a chip without talking to it: the die and its
layer stack, the package, the heaters, zones, lanes and sensors, and the operating limits.
Drivers describe their device with one; the planner and the thermal model are built from one.
Every check names the offending key, because a lab engineer edits these files by hand.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any


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


def default_profile_path() -> Path:
    """The shipped profile of DESIGN §2: 25 mm², 64 heaters, 8 lanes, 50 K/W."""
    return Path(str(resources.files("photon_drivers") / "profiles" / "default.toml"))


def load_profile(path: Path | str | None = None) -> DeviceProfile:
    """Read and check a profile; `None` reads the shipped default."""
    path = Path(path) if path is not None else default_profile_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ProfileError(f"cannot read device profile {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"device profile {path} is not valid TOML: {exc}") from exc
    try:
        return parse_profile(data, base_dir=path.parent)
    except ProfileError as exc:
        raise ProfileError(f"device profile {path}: {exc}") from exc


def parse_profile(data: Mapping[str, Any], base_dir: Path | None = None) -> DeviceProfile:
    """Check a profile's TOML data; relative paths in `[thermal]` are taken from `base_dir`."""
    reader = _Reader(data, "")
    die = reader.table("die")
    width_mm = die.positive("width_mm")
    height_mm = die.positive("height_mm")
    package = reader.table("package", required="thermal" not in data)
    heaters = tuple(_heater(h, width_mm, height_mm) for h in reader.tables("heaters"))
    zones = tuple(
        ZoneSpec(id=z.string("id"), heater_ids=tuple(z.strings("heater_ids")))
        for z in reader.tables("zones", required=False)
    )
    lanes = tuple(
        LaneSpec(
            id=lane.string("id"),
            kind=lane.string("kind", default="wavelength"),
            wavelength_nm=lane.non_negative("wavelength_nm", default=0.0),
        )
        for lane in reader.tables("lanes")
    )
    sensors = tuple(_sensor(s, width_mm, height_mm) for s in reader.tables("sensors"))
    limits_reader = reader.table("limits", required=False)
    defaults = LimitsSpec()
    limits = LimitsSpec(
        **{
            name: limits_reader.positive(name, default=getattr(defaults, name))
            for name in LimitsSpec.__dataclass_fields__
        }
    )
    if limits.interlock_temperature_c <= limits.max_device_temperature_c:
        raise ProfileError(
            "limits.interlock_temperature_c must be above limits.max_device_temperature_c"
        )
    grid = reader.table("grid", required=False)
    thermal = _thermal_source(reader, base_dir or Path.cwd())
    if thermal is not None:
        layers, package_spec = _stack_from_hotspot(thermal, width_mm, height_mm, heaters)
    else:
        layers = tuple(
            LayerSpec(
                name=layer.string("name"),
                thickness_mm=layer.positive("thickness_mm"),
                conductivity_w_per_m_k=layer.positive("conductivity_w_per_m_k"),
                volumetric_heat_capacity_j_per_m3_k=layer.positive(
                    "volumetric_heat_capacity_j_per_m3_k"
                ),
            )
            for layer in die.tables("layers")
        )
        package_spec = PackageSpec(
            die_to_ambient_k_per_w=package.positive("die_to_ambient_k_per_w"),
            heat_capacity_j_per_k=package.positive("heat_capacity_j_per_k"),
        )
    profile = DeviceProfile(
        model=reader.string("model"),
        die_width_mm=width_mm,
        die_height_mm=height_mm,
        ambient_c=reader.finite("ambient_c", default=25.0),
        max_optical_power_mw=reader.positive("max_optical_power_mw", default=100.0),
        layers=layers,
        package=package_spec,
        heaters=heaters,
        zones=zones,
        lanes=lanes,
        sensors=sensors,
        limits=limits,
        grid_cols=grid.positive_int("cols", default=8),
        grid_rows=grid.positive_int("rows", default=8),
        thermal=thermal,
    )
    _check_references(profile)
    return profile


def _thermal_source(reader: _Reader, base_dir: Path) -> ThermalSource | None:
    if "thermal" not in reader.data:
        return None
    if "layers" in reader.data.get("die", {}) or "package" in reader.data:
        raise ProfileError(
            "give the stack either as [thermal] HotSpot files or as [[die.layers]] + [package], "
            "not both"
        )
    t = reader.table("thermal")

    def path(key: str, required: bool) -> Path | None:
        if not required and key not in t.data:
            return None
        return (base_dir / t.string(key)).resolve()

    config = path("config", True)
    assert config is not None
    return ThermalSource(
        config=config,
        floorplan=path("floorplan", False),
        layers=path("layers", False),
        grid_rows=t.positive_int("grid_rows", 1) if "grid_rows" in t.data else None,
        grid_cols=t.positive_int("grid_cols", 1) if "grid_cols" in t.data else None,
    )


def _stack_from_hotspot(
    source: ThermalSource, width_mm: float, height_mm: float, heaters: tuple[HeaterSpec, ...]
) -> tuple[tuple[LayerSpec, ...], PackageSpec]:
    """Describe the HotSpot case in the profile's own terms, checking it fits the die."""
    # Imported here: the thermal package needs scipy, which a profile without one does not.
    from photon_drivers.plant.case_summary import summarise_case

    try:
        summary = summarise_case(
            source.config, source.floorplan, source.layers, source.grid_rows, source.grid_cols
        )
    except ValueError as exc:
        raise ProfileError(f"thermal: {exc}") from exc
    if abs(summary.die_width_mm - width_mm) > 1e-3 or abs(summary.die_height_mm - height_mm) > 1e-3:
        raise ProfileError(
            f"thermal: the floorplan's die is {summary.die_width_mm:g} x {summary.die_height_mm:g} "
            f"mm, the profile's {width_mm:g} x {height_mm:g} mm"
        )
    missing = [h.id for h in heaters if h.id not in summary.block_names]
    if missing:
        raise ProfileError(f"thermal: heaters without a floorplan block: {missing[:5]}")
    layers = tuple(
        LayerSpec(
            name=layer.prefix.rstrip("_") or f"layer {i}",
            thickness_mm=layer.thickness_m * 1e3,
            conductivity_w_per_m_k=layer.conductivity_w_per_mk,
            volumetric_heat_capacity_j_per_m3_k=layer.heat_capacity_j_per_m3k,
        )
        for i, layer in enumerate(summary.layers)
    )
    return layers, PackageSpec(
        summary.die_to_ambient_k_per_w, summary.package_heat_capacity_j_per_k
    )


def _heater(h: _Reader, width_mm: float, height_mm: float) -> HeaterSpec:
    spec = HeaterSpec(
        id=h.string("id"),
        x_mm=h.within("x_mm", 0.0, width_mm),
        y_mm=h.within("y_mm", 0.0, height_mm),
        width_mm=h.positive("width_mm"),
        height_mm=h.positive("height_mm"),
        max_power_mw=h.positive("max_power_mw"),
        pi_power_mw=h.positive("pi_power_mw"),
        waveguide_length_mm=h.positive("waveguide_length_mm"),
    )
    if spec.pi_power_mw > spec.max_power_mw:
        raise ProfileError(f"{h.where}pi_power_mw must not exceed max_power_mw")
    return spec


def _sensor(s: _Reader, width_mm: float, height_mm: float) -> SensorSpec:
    return SensorSpec(
        id=s.string("id"),
        x_mm=s.within("x_mm", 0.0, width_mm),
        y_mm=s.within("y_mm", 0.0, height_mm),
        noise_c=s.non_negative("noise_c", default=0.0),
        resolution_c=s.positive("resolution_c", default=0.01),
        min_sample_period_s=s.positive("min_sample_period_s", default=0.001),
    )


def _check_references(profile: DeviceProfile) -> None:
    for kind, items in (
        ("heaters", profile.heaters),
        ("zones", profile.zones),
        ("lanes", profile.lanes),
        ("sensors", profile.sensors),
    ):
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise ProfileError(f"{kind}: duplicate id {item.id!r}")
            seen.add(item.id)
    # Two heaters on one centre would leave both a power-density cell of zero area.
    centres: dict[tuple[float, float], str] = {}
    for heater in profile.heaters:
        other = centres.setdefault((heater.x_mm, heater.y_mm), heater.id)
        if other != heater.id:
            raise ProfileError(f"heaters: {heater.id!r} has the same centre as {other!r}")
    if not profile.lanes:
        raise ProfileError("lanes: a device needs at least one lane")
    if not profile.sensors:
        raise ProfileError("sensors: a device needs at least one sensor")
    heater_ids = {h.id for h in profile.heaters}
    for zone in profile.zones:
        for heater_id in zone.heater_ids:
            if heater_id not in heater_ids:
                raise ProfileError(f"zones[{zone.id}].heater_ids: unknown heater {heater_id!r}")
        if not zone.heater_ids:
            raise ProfileError(f"zones[{zone.id}].heater_ids: a zone needs at least one heater")


_REQUIRED: Any = object()


class _Reader:
    """Typed access to one TOML table that names the full key in every error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ProfileError(f"{where.rstrip('.') or 'profile'} must be a table")
        self.data = data
        self.where = where

    def _get(self, key: str, default: Any) -> Any:
        if key in self.data:
            return self.data[key]
        if default is _REQUIRED:
            raise ProfileError(f"{self.where}{key} is missing")
        return default

    def table(self, key: str, required: bool = True) -> _Reader:
        return _Reader(self._get(key, _REQUIRED if required else {}), f"{self.where}{key}.")

    def tables(self, key: str, required: bool = True) -> list[_Reader]:
        items = self._get(key, _REQUIRED if required else [])
        if not isinstance(items, list):
            raise ProfileError(f"{self.where}{key} must be an array of tables")
        return [_Reader(item, f"{self.where}{key}[{i}].") for i, item in enumerate(items)]

    def string(self, key: str, default: Any = None) -> str:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, str) or not value:
            raise ProfileError(f"{self.where}{key} must be a non-empty string")
        return value

    def strings(self, key: str) -> list[str]:
        value = self._get(key, _REQUIRED)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProfileError(f"{self.where}{key} must be an array of strings")
        return value

    def finite(self, key: str, default: Any = _REQUIRED) -> float:
        value = self._get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ProfileError(f"{self.where}{key} must be a finite number")
        return float(value)

    def positive(self, key: str, default: Any = _REQUIRED) -> float:
        value = self.finite(key, default)
        if value <= 0:
            raise ProfileError(f"{self.where}{key} must be positive")
        return value

    def non_negative(self, key: str, default: Any = _REQUIRED) -> float:
        value = self.finite(key, default)
        if value < 0:
            raise ProfileError(f"{self.where}{key} must not be negative")
        return value

    def within(self, key: str, low: float, high: float) -> float:
        value = self.finite(key)
        if not low <= value <= high:
            raise ProfileError(f"{self.where}{key} must lie on the die, in [{low}, {high}]")
        return value

    def positive_int(self, key: str, default: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ProfileError(f"{self.where}{key} must be a positive integer")
        return value
