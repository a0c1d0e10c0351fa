"""The circuit breaker: closed, open after N failures, half-open after a wait, closed on probes."""

from __future__ import annotations

import pytest

from photon_drivers.breaker import BreakerConfig, BreakerState, CircuitBreaker


class FakeMonotonic:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state read afresh: mypy would otherwise keep an earlier assert's narrowing
    across the calls that change it."""
    return breaker.state


def make(
    failures: int = 3, reset_s: float = 2.0, probes: int = 1
) -> tuple[CircuitBreaker, FakeMonotonic, list[tuple[BreakerState, BreakerState]]]:
    clock = FakeMonotonic()
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(
        BreakerConfig(failures, reset_s, probes),
        monotonic=clock,
        on_change=lambda old, new: changes.append((old, new)),
    )
    return breaker, clock, changes


def test_breaker_opens_after_consecutive_failures_only() -> None:
    breaker, _, changes = make(failures=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success in between resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow_request()
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.OPEN and breaker.opened_count == 1
    assert changes == [(BreakerState.CLOSED, BreakerState.OPEN)]


def test_breaker_refuses_while_open_then_goes_half_open() -> None:
    breaker, clock, _ = make(failures=1, reset_s=2.0)
    breaker.record_failure()
    clock.now_s += 1.9
    assert not breaker.allow_request()
    clock.now_s += 0.2
    assert breaker.allow_request()
    assert breaker.state is BreakerState.HALF_OPEN


def test_breaker_closes_after_enough_good_probes() -> None:
    breaker, clock, changes = make(failures=1, reset_s=1.0, probes=2)
    breaker.record_failure()
    clock.now_s += 1.0
    assert breaker.allow_request()
    breaker.record_success()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success()
    assert state_of(breaker) is BreakerState.CLOSED
    assert [new for _, new in changes] == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_a_failed_probe_reopens_for_another_full_wait() -> None:
    breaker, clock, _ = make(failures=1, reset_s=1.0)
    breaker.record_failure()
    clock.now_s += 1.0
    assert breaker.allow_request()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and breaker.opened_count == 2
    clock.now_s += 0.5
    assert not breaker.allow_request()
    clock.now_s += 0.5
    assert breaker.allow_request()


def test_options_are_split_from_the_drivers() -> None:
    config, rest = BreakerConfig.split_options(
        {"port": "/dev/ttyUSB0", "breaker_failures": "5", "breaker_reset_s": "0.25"}
    )
    assert config == BreakerConfig(failures=5, reset_s=0.25, probes=1)
    assert rest == {"port": "/dev/ttyUSB0"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"breaker_bogus": "1"}, "unknown breaker option.*breaker_bogus"),
        ({"breaker_failures": "x"}, "breaker_failures must be an integer"),
        ({"breaker_failures": "0"}, "breaker_failures must be at least 1"),
        ({"breaker_reset_s": "-1"}, "breaker_reset_s must be a positive"),
        ({"breaker_probes": "0"}, "breaker_probes must be at least 1"),
    ],
)
def test_bad_breaker_options_are_named(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BreakerConfig.split_options(options)


def test_trip_opens_at_once_and_probes_after_reset() -> None:
    now = [0.0]
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(
        BreakerConfig(failures=3, reset_s=1.0),
        monotonic=lambda: now[0],
        on_change=lambda old, new: changes.append((old, new)),
    )
    breaker.trip()
    assert breaker.state is BreakerState.OPEN and breaker.opened_count == 1
    assert changes == [(BreakerState.CLOSED, BreakerState.OPEN)]
    assert not breaker.allow_request()
    now[0] = 1.0
    assert breaker.allow_request()
    assert breaker.state.value == BreakerState.HALF_OPEN.value
