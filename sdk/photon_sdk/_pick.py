"""Choosing a device for a graph across daemons: the ranking, without I/O.

``Client.pick_device`` and ``AsyncClient.pick_device`` gather, for every device of every
endpoint and in parallel, its live state and a dry-run plan of the graph (PlanJob on that
device); :func:`choose` then ranks the candidates, so both clients choose alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._errors import PhotonError
from .types import DeviceState, Schedule, _Record

__all__ = ["Candidate", "DeviceChoice", "NoDeviceAvailable", "choose"]

#: Predicted makespans closer than this (seconds) count as equal, so the choice then goes by
#: thermal headroom rather than by planner noise.
MAKESPAN_RESOLUTION_S = 0.01


@dataclass(frozen=True)
class DeviceChoice(_Record):
    """The device :meth:`~photon_sdk.Client.pick_device` chose, and why.

    Submit there with ``client.endpoint(choice.target).submit_job(graph,
    device_id=choice.device_id)``. ``jobs_ahead`` counts the running and queued jobs the graph
    would wait behind; ``headroom_c`` is the device's temperature limit minus its hottest
    reading now (°C); ``schedule`` is the dry-run plan on that device. ``candidates`` lists
    every device considered, best first, and ``skipped`` the ones left out with the reason.
    """

    target: str
    device_id: str
    jobs_ahead: int
    headroom_c: float
    predicted_makespan_s: float
    predicted_peak_temperature_c: float
    schedule: Schedule
    candidates: tuple[Candidate, ...] = ()
    skipped: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Candidate(_Record):
    """One device that could run the graph, with the figures it was ranked by."""

    target: str
    device_id: str
    jobs_ahead: int
    headroom_c: float
    predicted_makespan_s: float
    predicted_peak_temperature_c: float

    @staticmethod
    def of(target: str, state: DeviceState, limit_c: float, plan: Schedule) -> Candidate:
        busy = 1 if state.active_job_id else 0
        return Candidate(
            target=target,
            device_id=state.device_id,
            jobs_ahead=state.queued_jobs + busy,
            headroom_c=limit_c - state.max_temperature_c,
            predicted_makespan_s=plan.makespan_s,
            predicted_peak_temperature_c=plan.predicted_peak_temperature_c,
        )


@dataclass(frozen=True)
class _Skipped:
    """A device left out of the choice, and why."""

    target: str
    device_id: str
    reason: str


class NoDeviceAvailable(PhotonError):
    """No endpoint has a device that is serving and can run the graph; ``skipped`` says why
    for each (target, device id, reason)."""

    def __init__(self, skipped: Sequence[tuple[str, str, str]]) -> None:
        self.skipped = tuple(skipped)
        reasons = "; ".join(f"{t} {d or '(endpoint)'}: {r}" for t, d, r in self.skipped)
        super().__init__(f"no device can take the graph: {reasons or 'no endpoints'}")


def rank_key(candidate: Candidate) -> tuple[int, int, float]:
    """Fewest jobs ahead first; then the shortest predicted makespan; then most headroom."""
    makespan_steps = round(candidate.predicted_makespan_s / MAKESPAN_RESOLUTION_S)
    return (candidate.jobs_ahead, makespan_steps, -candidate.headroom_c)


def choose(
    found: Sequence[tuple[Candidate, Schedule]], skipped: Sequence[tuple[str, str, str]]
) -> DeviceChoice:
    """Return the best of ``found`` by :func:`rank_key`; raise NoDeviceAvailable if empty."""
    if not found:
        raise NoDeviceAvailable(skipped)
    ranked = sorted(found, key=lambda pair: rank_key(pair[0]))
    best, schedule = ranked[0]
    return DeviceChoice(
        target=best.target,
        device_id=best.device_id,
        jobs_ahead=best.jobs_ahead,
        headroom_c=best.headroom_c,
        predicted_makespan_s=best.predicted_makespan_s,
        predicted_peak_temperature_c=best.predicted_peak_temperature_c,
        schedule=schedule,
        candidates=tuple(c for c, _ in ranked),
        skipped=tuple(skipped),
    )
