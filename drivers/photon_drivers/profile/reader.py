"""Read a device profile from TOML and check it before use.

Every check names the offending key, because a lab engineer edits these files by hand; a
profile may take its layer stack and package from a HotSpot case (`[thermal]`).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from photon_drivers.profile.spec import (
    DeviceProfile,
    HeaterSpec,
    LaneSpec,
    LayerSpec,
    LimitsSpec,
    PackageSpec,
    ProfileError,
    SensorSpec,
    ThermalSource,
    ZoneSpec,
)


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
