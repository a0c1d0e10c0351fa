"""The simulated chip keeps the Driver contract and plays its physics on the clock it is given."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from photon_drivers import Driver, ManualClock, load_profile
from photon_drivers.plant.chip import chip_network
from photon_drivers.profile import DeviceProfile, ProfileError, default_profile_path
from photon_drivers.sim.driver import SimulatedChipDriver

# Far past the slowest time constant (about 6.5 s): exp(-100 / 6.5) is below 1e-6.
SETTLE_S = 100.0


@pytest.fixture(scope="module")
def profile() -> DeviceProfile:
    return load_profile()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(profile: DeviceProfile, clock: ManualClock) -> SimulatedChipDriver:
    return SimulatedChipDriver(profile, clock, seed=7)


def pi_powers(profile: DeviceProfile) -> dict[str, float]:
    return {h.id: h.pi_power_mw for h in profile.heaters}


def steady_sensors_c(profile: DeviceProfile, powers_mw: dict[str, float]) -> np.ndarray:
    chip = chip_network(profile)
    heater_w = np.array([powers_mw.get(h, 0.0) * 1e-3 for h in chip.heater_ids])
    rise = chip.network.steady_state_rise_k(chip.heater_injection @ heater_w)
    return profile.ambient_c + chip.sensor_weights @ rise


def readings(sim: SimulatedChipDriver) -> np.ndarray:
    return np.array(sim.read_sensors().temperature_c)


def tolerance_c(profile: DeviceProfile) -> float:
    # Six sigma of noise plus one quantisation step: never flaky, far tighter than the signal.
    return max(6 * s.noise_c + s.resolution_c for s in profile.sensors)


def test_sim_is_a_driver(sim: SimulatedChipDriver, profile: DeviceProfile) -> None:
    assert isinstance(sim, Driver)
    assert sim.profile is profile
    sim.ping()


def test_sim_starts_at_ambient(sim: SimulatedChipDriver, profile: DeviceProfile) -> None:
    assert readings(sim) == pytest.approx(profile.ambient_c, abs=tolerance_c(profile))
    assert sim.true_temperatures_c() == pytest.approx(profile.ambient_c, abs=1e-12)


def test_sim_settles_to_steady_state(
    sim: SimulatedChipDriver, clock: ManualClock, profile: DeviceProfile
) -> None:
    powers = {"h33": 30.0, "h34": 25.0, "h70": 10.0}
    sim.set_heater_powers(powers)
    clock.advance(1.0)
    early = readings(sim)
    clock.advance(SETTLE_S)
    sample = sim.read_sensors()
    expected = steady_sensors_c(profile, powers)
    assert sample.device_time_s == pytest.approx(1.0 + SETTLE_S)
    assert np.array(sample.temperature_c) == pytest.approx(expected, abs=tolerance_c(profile))
    # It did take time: after one second the package was still far from warm.
    assert np.all(early < expected - 0.5 * (expected - profile.ambient_c))


def test_sim_all_heaters_at_pi_pass_the_temperature_limit(
    sim: SimulatedChipDriver, clock: ManualClock, profile: DeviceProfile
) -> None:
    sim.set_heater_powers(pi_powers(profile))
    assert sim.total_power_mw() == pytest.approx(1280.0)
    clock.advance(SETTLE_S)
    assert sim.true_temperatures_c().max() > profile.limits.max_device_temperature_c
    assert readings(sim).max() > profile.limits.max_device_temperature_c


def test_sim_safe_state_cools_to_ambient(
    sim: SimulatedChipDriver, clock: ManualClock, profile: DeviceProfile
) -> None:
    sim.set_heater_powers(pi_powers(profile))
    clock.advance(SETTLE_S)
    sim.safe_state()
    # Heat already in the die does not vanish with the command.
    assert sim.true_temperatures_c().min() > 80.0
    assert sim.total_power_mw() == 0.0
    clock.advance(SETTLE_S)
    assert readings(sim) == pytest.approx(profile.ambient_c, abs=tolerance_c(profile))


def test_sim_powers_apply_from_the_moment_they_are_set(
    profile: DeviceProfile, clock: ManualClock
) -> None:
    # Each touch catches up under the powers applied before it, so stepping one schedule in
    # many small touches or in two big ones must agree, and agree with the network itself.
    coarse = SimulatedChipDriver(profile, clock, seed=1)
    fine_clock = ManualClock()
    fine = SimulatedChipDriver(profile, fine_clock, seed=1)
    coarse.set_heater_powers({"h00": 30.0})
    fine.set_heater_powers({"h00": 30.0})
    clock.advance(2.0)
    for _ in range(200):
        fine_clock.advance(0.01)
        fine.read_sensors()
    coarse.set_heater_powers({"h77": 10.0})
    fine.set_heater_powers({"h77": 10.0})
    clock.advance(0.001)
    fine_clock.advance(0.001)
    assert fine.true_temperatures_c() == pytest.approx(coarse.true_temperatures_c(), abs=1e-9)
    chip = chip_network(profile)
    first, second = (
        chip.heater_injection[:, chip.heater_ids.index(h)] * w
        for h, w in (("h00", 0.03), ("h77", 0.01))
    )
    rise = chip.network.advance(
        chip.network.advance(np.zeros(first.shape), first, 2.0), second, 0.001
    )
    expected_c = profile.ambient_c + rise[chip.top_nodes]
    assert coarse.true_temperatures_c() == pytest.approx(expected_c, abs=1e-9)
    # Had h77's 10 mW been applied back to t = 0, the die would sit near 25.13 C, not 25.40.
    assert expected_c.mean() > profile.ambient_c + 0.3


def test_sim_unnamed_heaters_go_to_zero(sim: SimulatedChipDriver) -> None:
    sim.set_heater_powers({"h00": 10.0, "h11": 5.0})
    sim.set_heater_powers({"h11": 7.5})
    powers = sim.heater_powers_mw()
    assert len(powers) == 64
    assert powers["h00"] == 0.0 and powers["h11"] == 7.5
    assert sim.total_power_mw() == 7.5


@pytest.mark.parametrize(
    ("powers", "match"),
    [
        ({"h99": 1.0}, "unknown heater 'h99'"),
        ({"h00": 30.5}, "h00"),
        ({"h00": -1.0}, "h00"),
        ({"h00": float("nan")}, "h00"),
    ],
)
def test_sim_rejects_bad_powers_and_keeps_the_old_ones(
    sim: SimulatedChipDriver, powers: dict[str, float], match: str
) -> None:
    sim.set_heater_powers({"h22": 12.0})
    with pytest.raises(ValueError, match=match):
        sim.set_heater_powers({"h21": 3.0, **powers})
    assert sim.total_power_mw() == 12.0


def test_sim_close_parks_the_device(sim: SimulatedChipDriver) -> None:
    sim.set_heater_powers({"h22": 12.0})
    sim.close()
    assert sim.total_power_mw() == 0.0


def run_script(seed: int) -> list[tuple[float, ...]]:
    clock = ManualClock()
    sim = SimulatedChipDriver(load_profile(), clock, seed=seed)
    sim.set_heater_powers({"h44": 25.0})
    out = []
    for _ in range(5):
        clock.advance(0.1)
        out.append(sim.read_sensors().temperature_c)
    return out


def test_sim_same_seed_same_readings() -> None:
    assert run_script(3) == run_script(3)
    assert run_script(3) != run_script(4)


def test_sim_readings_are_quantised(sim: SimulatedChipDriver, profile: DeviceProfile) -> None:
    values = readings(sim)
    steps = values / np.array([s.resolution_c for s in profile.sensors])
    assert steps == pytest.approx(np.round(steps), abs=1e-6)
    # The noise is there: sixteen sensors at ambient do not all read the same.
    assert len(set(values.tolist())) > 1


def test_sim_threads_share_one_device(sim: SimulatedChipDriver, clock: ManualClock) -> None:
    errors: list[BaseException] = []

    def hammer(heater: str) -> None:
        try:
            for i in range(200):
                sim.set_heater_powers({heater: float(i % 30)})
                sim.read_sensors()
                clock.advance(1e-4)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(h,)) for h in ("h00", "h40", "h77")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert np.all(np.isfinite(sim.true_temperatures_c()))


def test_sim_default_construction_runs_in_real_time() -> None:
    sim = SimulatedChipDriver()
    first = sim.read_sensors().device_time_s
    assert 0.0 <= first < 5.0
    assert sim.read_sensors().device_time_s >= first


def test_sim_open_reads_options(clock: ManualClock) -> None:
    sim = SimulatedChipDriver.open({"profile": str(default_profile_path()), "seed": "5"}, clock)
    assert isinstance(sim, SimulatedChipDriver)
    assert sim.clock is clock
    clock.advance(1.0)
    twin = SimulatedChipDriver(load_profile(), ManualClock(1.0), seed=5)
    assert sim.read_sensors() == twin.read_sensors()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"sed": "1"}, ValueError, "'sed'"),
        ({"seed": "one"}, ValueError, "'seed'"),
        ({"profile": "/nonexistent/chip.toml"}, ProfileError, "chip.toml"),
    ],
)
def test_sim_open_rejects_bad_options(
    clock: ManualClock, options: dict[str, str], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        SimulatedChipDriver.open(options, clock)


def test_sim_open_uses_the_named_profile(tmp_path: Path, clock: ManualClock) -> None:
    # The copy names the shipped HotSpot files by absolute path (relative ones are taken from
    # the profile's own folder).
    profiles = default_profile_path().parent
    text = default_profile_path().read_text().replace('"default.', f'"{profiles}/default.')
    path = tmp_path / "warm.toml"
    path.write_text(text.replace("ambient_c = 25.0", "ambient_c = 40.0", 1))
    sim = SimulatedChipDriver.open({"profile": str(path)}, clock)
    assert sim.profile.ambient_c == 40.0
    assert readings(sim) == pytest.approx(40.0, abs=tolerance_c(sim.profile))


def test_sim_disturbed_plants_are_decomposed_once_per_process(profile: DeviceProfile) -> None:
    # Chips opened under the same mismatch and cooling share one network (its eigenproblem
    # is seconds on a loaded machine; the comparative study opens hundreds of chips), and
    # behave as chips that built their own.
    from photon_drivers.sim.driver import _modal_plant

    options = {"plant_mismatch": "-0.15", "cooling_factor": "1.3", "cooling_at_s": "0.5"}
    chips = [SimulatedChipDriver.open({**options, "seed": "2"}, ManualClock()) for _ in range(2)]
    before = _modal_plant.cache_info()
    third = SimulatedChipDriver.open({**options, "seed": "2"}, ManualClock())
    assert _modal_plant.cache_info().hits == before.hits + 1
    for sim in (*chips, third):
        sim.set_heater_powers(pi_powers(profile))
        assert isinstance(sim.clock, ManualClock)
        sim.clock.advance(2.0)  # past the cooling's onset: the degraded network, shared too
    first, *others = (readings(sim) for sim in (*chips, third))
    for other in others:
        assert np.array_equal(first, other)
    _modal_plant.cache_clear()
    rebuilt = SimulatedChipDriver.open({**options, "seed": "2"}, ManualClock())
    rebuilt.set_heater_powers(pi_powers(profile))
    assert isinstance(rebuilt.clock, ManualClock)
    rebuilt.clock.advance(2.0)
    assert np.array_equal(readings(rebuilt), first)
