"""Drivers resolve by name through entry points, and each way of failing is told apart."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points

import pytest

from photon_drivers import ManualClock, registry
from photon_drivers.registry import (
    DriverLoadError,
    DriverRegistryError,
    NotADriverError,
    UnknownDriverError,
    load_driver_class,
    open_driver,
)
from photon_drivers.sim.driver import SimulatedChipDriver

INSTALLED = pytest.mark.skipif(
    not entry_points(group=registry.GROUP),
    reason="no 'photond.drivers' entry points: the project is not installed (`make test` does)",
)


def fake(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=registry.GROUP)


@pytest.fixture
def fake_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, tuple[EntryPoint, ...]]]:
    """Stand in for the installed entry points with a table each test fills in."""
    table: dict[str, tuple[EntryPoint, ...]] = {}
    monkeypatch.setattr(registry, "_installed", lambda: table)
    yield table


@INSTALLED
def test_sim_resolves_from_installed_entry_points() -> None:
    assert "sim" in registry.available_drivers()
    assert load_driver_class("sim") is SimulatedChipDriver
    driver = open_driver("sim", {"seed": "2"}, ManualClock())
    assert isinstance(driver, SimulatedChipDriver)


def test_unknown_name_lists_the_installed(
    fake_installed: dict[str, tuple[EntryPoint, ...]],
) -> None:
    fake_installed["sim"] = (fake("sim", "photon_drivers.sim.driver:SimulatedChipDriver"),)
    fake_installed["serial"] = (fake("serial", "photon_drivers.sim.driver:SimulatedChipDriver"),)
    with pytest.raises(UnknownDriverError, match=r"'simm'.*installed: serial, sim"):
        load_driver_class("simm")


def test_unknown_name_with_nothing_installed(
    fake_installed: dict[str, tuple[EntryPoint, ...]],
) -> None:
    with pytest.raises(LookupError, match="installed: none"):
        load_driver_class("sim")


def test_entry_point_loads_the_driver(fake_installed: dict[str, tuple[EntryPoint, ...]]) -> None:
    fake_installed["sim"] = (fake("sim", "photon_drivers.sim.driver:SimulatedChipDriver"),)
    assert load_driver_class("sim") is SimulatedChipDriver
    clock = ManualClock()
    driver = open_driver("sim", {"seed": "4"}, clock)
    assert isinstance(driver, SimulatedChipDriver) and driver.clock is clock
    with pytest.raises(ValueError, match="'bogus'"):
        open_driver("sim", {"bogus": "1"}, clock)


def test_broken_import_is_chained(fake_installed: dict[str, tuple[EntryPoint, ...]]) -> None:
    fake_installed["broken"] = (fake("broken", "photon_drivers.no_such_module:Driver"),)
    with pytest.raises(DriverLoadError, match="'broken'") as info:
        load_driver_class("broken")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert isinstance(info.value, ImportError)


def test_missing_attribute_is_a_load_error(
    fake_installed: dict[str, tuple[EntryPoint, ...]],
) -> None:
    fake_installed["typo"] = (fake("typo", "photon_drivers.sim.driver:SimulatedChip"),)
    with pytest.raises(DriverLoadError) as info:
        load_driver_class("typo")
    assert isinstance(info.value.__cause__, AttributeError)


@pytest.mark.parametrize(
    "value", ["photon_drivers.sim.driver:load_profile", "photon_drivers:ManualClock"]
)
def test_non_driver_is_rejected(
    fake_installed: dict[str, tuple[EntryPoint, ...]], value: str
) -> None:
    fake_installed["odd"] = (fake("odd", value),)
    with pytest.raises(NotADriverError, match=r"not a subclass of .*interface\.Driver"):
        load_driver_class("odd")


def test_two_packages_claiming_one_name_is_an_error(
    fake_installed: dict[str, tuple[EntryPoint, ...]],
) -> None:
    fake_installed["sim"] = (
        fake("sim", "photon_drivers.sim.driver:SimulatedChipDriver"),
        fake("sim", "other_vendor.sim:Driver"),
    )
    with pytest.raises(UnknownDriverError, match="ambiguous"):
        load_driver_class("sim")


def test_errors_share_one_base() -> None:
    for error in (UnknownDriverError, DriverLoadError, NotADriverError):
        assert issubclass(error, DriverRegistryError)
    assert issubclass(UnknownDriverError, LookupError)
    assert issubclass(NotADriverError, TypeError)


def test_scan_is_cached_and_deduplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    same = fake("sim", "photon_drivers.sim.driver:SimulatedChipDriver")

    def scan(*, group: str) -> list[EntryPoint]:
        calls.append(group)
        return [same, fake("sim", same.value)]

    monkeypatch.setattr(registry, "entry_points", scan)
    registry._installed.cache_clear()
    try:
        assert registry.available_drivers() == ("sim",)
        assert load_driver_class("sim") is SimulatedChipDriver
        assert calls == [registry.GROUP]
    finally:
        registry._installed.cache_clear()
