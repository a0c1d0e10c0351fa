"""`photond check-config`: the configuration photond would run with, where each value came from.

It reads the same sources as a start (defaults, the TOML file, `PHOTON_*` variables, flags),
checks them the same way, and also resolves each device's driver and breaker options — without
opening a device. It prints the effective configuration as TOML, each setting followed by its
source, and exits 0; on an error it prints the error (which names the key or the variable and
what it accepts) and exits 2. Unknown `PHOTON_*` variables are warned about on stderr.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from photon_drivers.breaker import BreakerConfig
from photon_drivers.registry import DriverRegistryError, load_driver_class
from photond.config import ConfigError, DaemonConfig, env_sources, unknown_env_variables
from photond.security.settings import UnixPeerRole

# [security]'s tables of uid or gid -> role (TOML tables, not arrays, even when empty).
_UNIX_PEER_TABLES = ("unix_users", "unix_groups")
# The settings printed as a table of their own, after the top-level ones.
_TABLES = ("devices", "closed_loop")


def check_devices(config: DaemonConfig) -> None:
    """Resolve every device's driver and breaker options, as a start would, opening nothing.

    Raises:
        ConfigError: naming the device's key.
    """
    for index, device in enumerate(config.devices):
        try:
            load_driver_class(device.driver)
        except DriverRegistryError as exc:
            raise ConfigError(f"devices[{index}].driver ({device.id}): {exc}") from exc
        try:
            BreakerConfig.split_options(device.options)
        except ValueError as exc:
            raise ConfigError(f"devices[{index}].options ({device.id}): {exc}") from exc


def sources(path: Path | None, env: Mapping[str, str], flags: Mapping[str, Any]) -> dict[str, str]:
    """Setting -> where its value came from: the last layer that set it."""
    found: dict[str, str] = {}
    if path is not None:
        with open(path, "rb") as f:
            for key in tomllib.load(f):
                found[key] = f"file {path}"
    for key, variable in env_sources(env).items():
        found[key] = f"environment {variable}"
    for key, value in flags.items():
        if value is not None:
            found[key] = "flag --" + key.replace("_", "-")
    return found


def _toml(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return json.dumps(value.name.lower())
    if dataclasses.is_dataclass(value):
        return json.dumps(repr(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _is_tables(value: Any) -> bool:
    """A table (a dataclass) or an array of tables (a non-empty tuple of dataclasses)."""
    if isinstance(value, tuple):
        return bool(value) and all(dataclasses.is_dataclass(v) for v in value)
    return dataclasses.is_dataclass(value)


def render(config: DaemonConfig, where: Mapping[str, str]) -> str:
    """The effective configuration as TOML, each line commented with its source."""
    lines = []
    for field in dataclasses.fields(DaemonConfig):
        if field.name in _TABLES:
            continue
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):  # a table of its own: printed after these
            continue
        lines.append(f"{field.name} = {_toml(value)}  # {where.get(field.name, 'default')}")
    for field in dataclasses.fields(DaemonConfig):
        table = getattr(config, field.name)
        if field.name in _TABLES[:1] or not dataclasses.is_dataclass(table):
            continue
        lines.append("")
        lines.append(f"[{field.name}]  # {where.get(field.name, 'default')}")
        nested = []
        for item in dataclasses.fields(table):
            value = getattr(table, item.name)
            if field.name == "security" and _is_tables(value):
                nested.append((item.name, value))
            elif value is None or (item.name in _UNIX_PEER_TABLES and not value):
                lines.append(f"# {item.name}: not set")
            elif not dataclasses.is_dataclass(value):
                lines.append(f"{item.name} = {_toml(value)}")
        # [security] holds tables of its own: [security.tls], [[security.tokens]], ...
        for name, value in nested:
            if isinstance(value, tuple) and all(isinstance(e, UnixPeerRole) for e in value):
                # [security.unix_users] / [security.unix_groups]: as written, with the id.
                lines.append("")
                lines.append(f"[{field.name}.{name}]")
                kind = "uid" if name == "unix_users" else "gid"
                lines += [f"{_toml(e.key)} = {_toml(e.role)}  # {kind} {e.id}" for e in value]
                continue
            many = isinstance(value, tuple)
            for entry in value if many else (value,):
                lines.append("")
                lines.append(f"[[{field.name}.{name}]]" if many else f"[{field.name}.{name}]")
                for sub in dataclasses.fields(entry):
                    part = getattr(entry, sub.name)
                    lines.append(
                        f"# {sub.name}: not set" if part is None else f"{sub.name} = {_toml(part)}"
                    )
    for device in config.devices:
        lines.append("")
        lines.append(f"[[devices]]  # {where.get('devices', 'default')}")
        lines.append(f"id = {_toml(device.id)}")
        lines.append(f"driver = {_toml(device.driver)}")
        if device.options:
            options = ", ".join(f"{k} = {_toml(v)}" for k, v in device.options.items())
            lines.append(f"options = {{ {options} }}")
    return "\n".join(lines) + "\n"


def check_config(
    load: Any,
    path: Path | None,
    env: Mapping[str, str],
    flags: Mapping[str, Any],
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Print the effective configuration; 0 when it is valid, 2 (and the error) when not.

    Args:
        load: builds the configuration from the sources (what a start calls).
        path, env, flags: the sources, for telling where each value came from.
    """
    for variable in unknown_env_variables(env):
        print(f"photond: warning: unknown variable {variable} is ignored", file=err)
    try:
        config: DaemonConfig = load()
        check_devices(config)
    except ConfigError as exc:
        print(f"photond: configuration error: {exc}", file=err)
        return 2
    print(
        f"# photond configuration: defaults < file ({path or 'none'}) < PHOTON_* < flags", file=out
    )
    out.write(render(config, sources(path, env, flags)))
    return 0
