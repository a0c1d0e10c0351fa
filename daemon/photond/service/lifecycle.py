"""The daemon's life as a service: start, READY, watchdog, signals, STOPPING, stop.

Signals (docs/operations.md):
- SIGTERM, SIGINT, SIGQUIT, SIGUSR2 and every other signal whose default action would end the
  process (SIGALRM, SIGPROF, SIGVTALRM, SIGIO, SIGPWR, SIGXCPU, SIGXFSZ, the real-time
  signals) stop photond the clean way: no new jobs, every device parked, the running job
  journaled as failed with the reason, exit 0. A signal must never end photond with a
  heater on. SIGKILL cannot be caught; the firmware's own safe state is the answer to it.
- SIGHUP reloads the configuration (`service.reload`); one during start-up is applied once
  photond is ready.
- SIGUSR1 writes the state of every device (serving, breaker, heartbeat age, jobs, hottest
  reading) to the log and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from photond.config import DaemonConfig
from photond.rpc.server import Daemon
from photond.service.notify import Notifier
from photond.service.reload import reload
from photond.service.supervisor import Supervisor

log = logging.getLogger("photond")

# Signals whose default action ends the process (signal(7): Term or Core, and catchable),
# except the faults a process cannot go on from (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
# SIGTRAP, SIGSYS: Python's own faulthandler reports those).
_TERMINATING = (
    "SIGTERM", "SIGINT", "SIGQUIT", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGIO",
    "SIGPWR", "SIGXCPU", "SIGXFSZ", "SIGSTKFLT",
)  # fmt: skip


def stop_signals() -> list[int]:
    """Every signal that stops photond cleanly on this platform."""
    found = [getattr(signal, name) for name in _TERMINATING if hasattr(signal, name)]
    if hasattr(signal, "SIGRTMIN"):
        found += range(signal.SIGRTMIN, signal.SIGRTMAX + 1)
    return found


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"SIGRTMIN+{signum - signal.SIGRTMIN}"


async def serve(
    config: DaemonConfig,
    load: Callable[[], DaemonConfig],
    on_ready: Callable[[list[str], DaemonConfig], None] | None = None,
) -> None:
    """Run the daemon until a stop signal.

    Args:
        config: the configuration to start with.
        load: reads the configuration again from its sources (SIGHUP).
        on_ready: called with the addresses once photond serves (the terminal banner).
    """
    notifier = Notifier.from_environment()
    # Handlers first: a signal during the minutes of a cold start must stop photond cleanly.
    stop = asyncio.Event()
    hangup = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in stop_signals():
        loop.add_signal_handler(signum, _stop_on, signum, stop)
    loop.add_signal_handler(signal.SIGHUP, _hangup, hangup)
    holder: list[Supervisor] = []
    loop.add_signal_handler(signal.SIGUSR1, _dump_state, holder)
    notifier.status("starting: opening devices, compiling the planner's kernels")
    daemon = Daemon(config)
    try:
        addresses = await daemon.start()
    except BaseException:
        notifier.stopping("start-up failed: parking devices")
        await daemon.stop()
        raise
    supervisor = Supervisor(daemon.devices, notifier)
    holder.append(supervisor)
    # A stop asked for during start-up (which runs to its end: the kernels' compile cannot be
    # interrupted, and no device is powered before it ends) is not answered with READY.
    if not stop.is_set():
        log.info(
            "ready",
            extra={"listen": ",".join(addresses), "watchdog_s": notifier.watchdog_s or "off"},
        )
        notifier.ready(supervisor.status_line())
        if on_ready is not None:
            on_ready(addresses, config)
    tasks = [
        asyncio.create_task(supervisor.run()),
        asyncio.create_task(_reloads(daemon, load, notifier, hangup)),
    ]
    await stop.wait()
    notifier.stopping("stopping: no new jobs, parking devices")
    log.info("stopping: no new jobs, parking devices")
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await daemon.stop()
    log.info("stopped")


async def _reloads(
    daemon: Daemon, load: Callable[[], DaemonConfig], notifier: Notifier, hangup: asyncio.Event
) -> None:
    """One reload per SIGHUP, in turn; SIGHUPs that arrive during one make one more."""
    while True:
        await hangup.wait()
        hangup.clear()
        try:
            await reload(daemon, load, notifier)
        except Exception:  # a bug in a reload must not end reloading, nor the daemon
            log.exception("configuration reload failed: the running configuration is kept")
            notifier.ready("reload failed, running configuration kept")


def _stop_on(signum: int, stop: asyncio.Event) -> None:
    log.info("received %s", _name(signum))
    stop.set()


def _hangup(hangup: asyncio.Event) -> None:
    log.info("received SIGHUP")
    hangup.set()


def _dump_state(holder: list[Supervisor]) -> None:
    log.info("received SIGUSR1: state follows (SIGUSR1 changes nothing)")
    if not holder:
        log.info("state: starting up (devices open, kernels compiling)")
        return
    for message, fields in holder[0].state_lines():
        log.info(message, extra=fields)
