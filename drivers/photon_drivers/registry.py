"""Find drivers by short name through the `photond.drivers` entry-point group.

A driver package declares, in its own pyproject, `[project.entry-points."photond.drivers"]`
`name = "module:Class"`; the daemon's config then names the driver and this module loads it.
Entry points rather than module-name conventions, so a plugin that fails to import is reported
as broken instead of silently looking absent. Each way of failing has its own error:

    DriverRegistryError
    ├── UnknownDriverError (LookupError)   no driver by that name; lists those installed
    ├── DriverLoadError (ImportError)      the entry point failed to import; chained
    └── NotADriverError (TypeError)        it imported, but is not a Driver subclass
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points

from photon_drivers.clock import Clock
from photon_drivers.deferred import DeferredDriver
from photon_drivers.interface import Driver, DriverError

GROUP = "photond.drivers"


class DriverRegistryError(Exception):
    """A driver could not be resolved from its name."""


class UnknownDriverError(DriverRegistryError, LookupError):
    """No installed driver has this name."""


class DriverLoadError(DriverRegistryError, ImportError):
    """A driver's entry point is declared, but loading it failed (the cause is chained)."""


class NotADriverError(DriverRegistryError, TypeError):
    """A driver's entry point names something that is not a Driver subclass."""


@functools.cache
def _installed() -> Mapping[str, tuple[EntryPoint, ...]]:
    """Scan installed distributions once: the scan reads every package's metadata."""
    found: dict[str, dict[str, EntryPoint]] = {}
    for ep in entry_points(group=GROUP):
        # The same target seen twice (say, an editable and a stale install) is one driver.
        found.setdefault(ep.name, {})[ep.value] = ep
    return {name: tuple(by_value.values()) for name, by_value in found.items()}


def available_drivers() -> tuple[str, ...]:
    """Names of the installed drivers, sorted."""
    return tuple(sorted(_installed()))


def load_driver_class(name: str) -> type[Driver]:
    """Return the Driver subclass registered under `name`.

    Raises:
        UnknownDriverError: no driver of that name, or two packages claim it.
        DriverLoadError: its module or attribute failed to import.
        NotADriverError: the object found is not a Driver subclass.
    """
    candidates = _installed().get(name, ())
    if not candidates:
        names = ", ".join(available_drivers()) or "none"
        raise UnknownDriverError(
            f"no driver named {name!r} in entry-point group {GROUP!r}; installed: {names}"
        )
    if len(candidates) > 1:
        targets = ", ".join(ep.value for ep in candidates)
        raise UnknownDriverError(f"driver name {name!r} is ambiguous: claimed by {targets}")
    (ep,) = candidates
    try:
        loaded = ep.load()
    except Exception as exc:
        raise DriverLoadError(f"driver {name!r} ({ep.value}) failed to load: {exc}") from exc
    if not (isinstance(loaded, type) and issubclass(loaded, Driver)):
        raise NotADriverError(
            f"driver {name!r} ({ep.value}) is {loaded!r}, not a subclass of "
            f"{Driver.__module__}.{Driver.__qualname__}"
        )
    return loaded


def open_driver(name: str, options: Mapping[str, str], clock: Clock) -> Driver:
    """Load the driver registered under `name` and open it with config options.

    Raises:
        DriverRegistryError: see `load_driver_class`.
        ValueError: the driver rejected an option.
        DriverError: the driver could not reach its device.
    """
    return load_driver_class(name).open(options, clock)


def open_or_defer(
    name: str, options: Mapping[str, str], clock: Clock
) -> tuple[Driver, DriverError | None]:
    """Like `open_driver`, but a device that cannot be reached yet is opened later.

    When `open` fails with DriverError and the driver can describe its device without it
    (`Driver.describe`), the answer is a `DeferredDriver` that tries to open on every call,
    with the error that stopped the first try; otherwise that error is raised.

    Raises:
        DriverRegistryError: see `load_driver_class`.
        ValueError: the driver rejected an option.
        DriverError: the device could not be reached and the driver needs it to describe it.
    """
    driver_class = load_driver_class(name)
    try:
        return driver_class.open(options, clock), None
    except DriverError as exc:
        profile = driver_class.describe(options)
        if profile is None:
            raise
        return DeferredDriver(driver_class, options, clock, profile), exc
