"""HotSpot configuration (`-key value` lines) and layer files (`.lcf`), read.

The config reader keeps every entry with its line number and converts on demand, because
which keys are required depends on the run: the chip and interface keys are not needed when a
layer file describes the stack, `sampling_intvl` only for a transient. A missing key that the
run needs is an error naming the key and the file; keys HotSpot knows but this plant does not
model (leakage, the secondary path, DTM) are refused when switched on rather than silently
ignored; any other key is kept and reported by `unknown_keys`, so configs written for other
HotSpot versions still load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from photon_drivers.plant.hotspot._errors import ThermalInputError, parse_float, read_lines

#: Keys this plant reads (the ones the shipped HotSpot cases use, plus HotSpot's file keys).
KNOWN_KEYS = frozenset(
    {
        *(f"{q}_{part}" for q in ("t", "k", "p") for part in ("chip", "interface")),
        *(f"{q}_{part}" for q in ("s", "t", "k", "p") for part in ("spreader", "sink")),
        "r_convec", "c_convec", "ambient", "init_temp", "sampling_intvl", "model_type",
        "grid_rows", "grid_cols", "grid_map_mode", "grid_layer_file", "block_omit_lateral",
        "leakage_used", "package_model_used", "dtm_used", "model_secondary", "init_file",
        "steady_file", "grid_steady_file", "grid_transient_file", "thermal_threshold",
        "base_proc_freq", "leakage_mode", "detailed_3D_used",
    }
)  # fmt: skip

#: Switches for physics this plant does not model: they must be 0 (HotSpot's default).
UNSUPPORTED_SWITCHES = (
    "leakage_used", "package_model_used", "dtm_used", "model_secondary", "detailed_3D_used",
)  # fmt: skip


@dataclass(frozen=True)
class HotSpotConfig:
    """The entries of a HotSpot `.config` file, with typed, error-reporting accessors."""

    path: Path
    entries: dict[str, tuple[str, int]]  # key -> (value, line number)

    def has(self, key: str) -> bool:
        return key in self.entries

    def number(self, key: str, needed_for: str) -> float:
        """Return a numeric entry; missing → error naming the key and why it is needed."""
        if key not in self.entries:
            raise ThermalInputError(
                f"missing required key -{key} (needed for {needed_for})", self.path
            )
        value, line = self.entries[key]
        return parse_float(value, f"-{key}", self.path, line)

    def integer(self, key: str, default: int | None, needed_for: str) -> int:
        if key not in self.entries:
            if default is None:
                raise ThermalInputError(
                    f"missing required key -{key} (needed for {needed_for})", self.path
                )
            return default
        value, line = self.entries[key]
        try:
            return int(value)
        except ValueError:
            raise ThermalInputError(
                f"-{key}: expected an integer, got {value!r}", self.path, line
            ) from None

    def text(self, key: str, default: str) -> str:
        return self.entries[key][0] if key in self.entries else default

    def line_of(self, key: str) -> int | None:
        return self.entries[key][1] if key in self.entries else None

    @property
    def unknown_keys(self) -> tuple[str, ...]:
        return tuple(k for k in self.entries if k not in KNOWN_KEYS)


def read_config(path: str | Path) -> HotSpotConfig:
    """Read a HotSpot `.config` file (`-key value` per line, `#` comments).

    Raises:
        ThermalInputError: missing file, a line that is not `-key value`, a repeated key, or
            an unsupported physics switch turned on.
    """
    entries: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(read_lines(path), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.split()
        if len(fields) != 2 or not fields[0].startswith("-") or len(fields[0]) < 2:
            raise ThermalInputError(f"expected '-key value', got {text!r}", path, number)
        key = fields[0][1:]
        if key in entries:
            raise ThermalInputError(f"-{key} given twice", path, number)
        entries[key] = (fields[1], number)
    config = HotSpotConfig(Path(path), entries)
    for key in UNSUPPORTED_SWITCHES:
        if config.integer(key, 0, key) != 0:
            raise ThermalInputError(
                f"-{key} {entries[key][0]}: not modelled by this plant (only 0 is accepted)",
                path,
                entries[key][1],
            )
    init_file = config.text("init_file", "(null)")
    if init_file not in ("(null)", "NULL", "null"):
        raise ThermalInputError(
            "-init_file is not supported; transients start from -init_temp", path,
            config.line_of("init_file"),
        )  # fmt: skip
    return config


@dataclass(frozen=True)
class LcfLayer:
    """One layer of a `.lcf` file, as written: SI units, resistivity (m·K/W) not conductivity."""

    index: int
    has_lateral: bool
    has_power: bool
    heat_capacity_j_per_m3k: float
    resistivity_mk_per_w: float
    thickness_m: float
    floorplan_path: Path
    line: int


_LCF_FIELDS = (
    "layer index", "lateral heat flow Y/N", "carries power Y/N", "volumetric heat capacity",
    "thermal resistivity", "thickness", "floorplan file",
)  # fmt: skip


def _yes_no(token: str, what: str, path: str | Path, line: int) -> bool:
    if token in ("Y", "y"):
        return True
    if token in ("N", "n"):
        return False
    raise ThermalInputError(f"{what}: expected Y or N, got {token!r}", path, line)


def _resolve(name: str, base: Path) -> Path:
    """A file named inside another file: relative to that file's folder, else to the cwd."""
    candidate = Path(name)
    if candidate.is_absolute():
        return candidate
    beside = base.parent / candidate
    return beside if beside.exists() or not candidate.exists() else candidate


def read_lcf(path: str | Path) -> list[LcfLayer]:
    """Read a HotSpot layer file: seven fields per layer, one per line (first token counts).

    Layers are returned sorted by index; indices must be 0..n-1, each once. Floorplan names
    are resolved relative to the layer file's folder (falling back to the working directory,
    which is where HotSpot looks).
    """
    tokens: list[tuple[str, int]] = []
    for number, raw in enumerate(read_lines(path), start=1):
        fields = raw.split()
        if fields and not fields[0].startswith("#"):
            tokens.append((fields[0], number))
    if not tokens:
        raise ThermalInputError("no layers in layer file", path)
    if len(tokens) % 7:
        line = tokens[-1][1]
        raise ThermalInputError(
            f"incomplete layer: each layer needs 7 lines ({', '.join(_LCF_FIELDS)})", path, line
        )
    layers: list[LcfLayer] = []
    for start in range(0, len(tokens), 7):
        (idx, l0), (lat, l1), (pw, l2), (cap, l3), (rho, l4), (thick, l5), (flp, _) = tokens[
            start : start + 7
        ]
        try:
            index = int(idx)
        except ValueError:
            raise ThermalInputError(
                f"layer index: expected an integer, got {idx!r}", path, l0
            ) from None
        layer = LcfLayer(
            index=index,
            has_lateral=_yes_no(lat, _LCF_FIELDS[1], path, l1),
            has_power=_yes_no(pw, _LCF_FIELDS[2], path, l2),
            heat_capacity_j_per_m3k=parse_float(cap, _LCF_FIELDS[3], path, l3),
            resistivity_mk_per_w=parse_float(rho, _LCF_FIELDS[4], path, l4),
            thickness_m=parse_float(thick, _LCF_FIELDS[5], path, l5),
            floorplan_path=_resolve(flp, Path(path)),
            line=l0,
        )
        for value, what, line in (
            (layer.heat_capacity_j_per_m3k, _LCF_FIELDS[3], l3),
            (layer.resistivity_mk_per_w, _LCF_FIELDS[4], l4),
            (layer.thickness_m, _LCF_FIELDS[5], l5),
        ):
            if value <= 0:
                raise ThermalInputError(f"{what} must be > 0", path, line)
        layers.append(layer)
    layers.sort(key=lambda layer: layer.index)
    if [layer.index for layer in layers] != list(range(len(layers))):
        raise ThermalInputError(
            f"layer indices must be 0..{len(layers) - 1}, each once; got "
            f"{sorted(layer.index for layer in layers)}",
            path,
        )
    if not any(layer.has_power for layer in layers):
        raise ThermalInputError("no layer carries power (field 3 is N everywhere)", path)
    return layers


def resolve_relative(name: str, base_file: Path) -> Path:
    """Public form of the file-relative lookup, for the config's `-grid_layer_file`."""
    return _resolve(name, base_file)
