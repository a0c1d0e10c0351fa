"""Reading a device loop's waits for the interpreter out of a `perf script` listing
(`photon_bench.gil_waits`), in the format perf prints."""

from __future__ import annotations

from photon_bench.gil_waits import parse, report, waits

_SWITCH = (
    "device-sim0 7001  {t:.6f}:  sched:sched_switch: prev_comm=device-sim0 prev_pid=7001 "
    "prev_prio=120 prev_state={state} ==> next_comm=swapper/1 next_pid=0 next_prio=120\n"
    "\tffffffff82258a08 __schedule ([kernel.kallsyms])\n"
    "\tffffffff8144fcca futex_wait ([kernel.kallsyms])\n"
)
_SAMPLE = (
    "python 7002  {t:.6f}: cpu-clock/freq=999/: \n"
    "\tffffffff82248ae7 clear_page_erms ([kernel.kallsyms])\n"
    "\t          16db75 __memcpy_avx512_unaligned_erms (inlined)\n"
    "\t           effc bind_param (/usr/lib/python3.11/lib-dynload/_sqlite3.so)\n"
)


def listing(switches: list[tuple[float, str]], samples: list[float]) -> str:
    blocks = [_SWITCH.format(t=t, state=state) for t, state in switches]
    blocks += [_SAMPLE.format(t=t) for t in samples]
    return "\n".join(blocks)


def test_a_run_of_waits_a_switch_interval_apart_names_the_holder() -> None:
    # The loop thread wakes each millisecond, finds the interpreter held, and sleeps again.
    switches = [(100.0 + 0.00105 * k, "S") for k in range(8)]
    text = listing(switches, [100.002, 100.004, 100.006])
    found = waits(parse(text), "device-sim0")
    assert len(found) == 1
    assert round(found[0].length_ms, 2) == 7.35
    samples, tid, comm, frames = found[0].holders[0]
    assert (samples, tid, comm) == (3, 7002, "python")
    assert frames.startswith("__memcpy_avx512_unaligned_erms (inlined) < bind_param")
    assert "waited 7.4 ms" in report(found)


def test_hand_overs_and_sleeps_to_the_next_period_are_not_waits() -> None:
    # Two quick hand-overs, then a 9 ms sleep until the loop's next tick, then a preemption.
    switches = [(200.0, "S"), (200.00105, "S"), (200.010, "S"), (200.011, "R")]
    assert waits(parse(listing(switches, [200.005])), "device-sim0") == []


def test_other_threads_waits_are_not_the_loops() -> None:
    switches = [(300.0 + 0.001 * k, "S") for k in range(8)]
    assert waits(parse(listing(switches, [])), "photond-journal") == []
