"""SIGHUP: read the configuration again and put the keys that can change live in force, at once.

One place swaps the whole validated configuration. The new one is read from the same sources
as at start (file, `PHOTON_*` environment, flags: a flag still wins over the file) and checked
whole; a file that does not read or check is refused with the reason in the log and the
running configuration stays, untouched. Otherwise every live key that changed is *prepared*
(anything that can fail: reading a certificate, building a table) before any is *committed*
(plain assignments), so a reload is all of it or nothing. `Daemon.config` then says what is in
force: the new values of the live keys, and the running values of the keys that need a
restart, each of which is logged with both values.

Live keys (`LIVE_KEYS`): `security` (tokens, certificate subjects, roles, per-identity limits,
the TLS certificate files; `AccessControl.prepare_reload` refuses what needs a restart);
`log_level`; `planning_queue_limit` (the next submission sees it); `planning_idle_exit_s`
(the pool's next idle check, within a second);
`retain_finished_jobs` and `retain_finished_s` (a retention pass runs at once);
`running_jobs_on_restart` (read at start-up only: the new value is the one the next start
uses). Everything else — listeners, state directory, devices, time scale, control period,
closed loop, planning workers, task limit — is wired into sockets, threads, processes and
compiled tables at start, and needs a restart. A new key is live once it has an entry here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from photond.config import ConfigError, DaemonConfig
from photond.rpc.server import Daemon
from photond.service.notify import Notifier

log = logging.getLogger("photond.service")

# A commit: plain assignments that cannot fail.
Commit = Callable[[], None]
# A key's preparation: everything that can fail; returns its commit.
Prepare = Callable[[Daemon, DaemonConfig], Commit]


def _log_level(daemon: Daemon, new: DaemonConfig) -> Commit:
    level = new.log_level.upper()
    return lambda: logging.getLogger().setLevel(level)


def _queue_limit(daemon: Daemon, new: DaemonConfig) -> Commit:
    def commit() -> None:
        daemon.planner.queue_limit = new.planning_queue_limit

    return commit


def _idle_exit(daemon: Daemon, new: DaemonConfig) -> Commit:
    def commit() -> None:
        daemon.planner.idle_exit_s = new.planning_idle_exit_s

    return commit


def _read_from_config(daemon: Daemon, new: DaemonConfig) -> Commit:
    """Keys the daemon reads from `daemon.config` when it uses them: the swap is the commit."""
    return lambda: None


def _retention(daemon: Daemon, new: DaemonConfig) -> Commit:
    """`retain_finished_*`: read from `daemon.config` by the retention pass, which runs at once
    (after the swap: it runs in the event loop once this reload has returned)."""
    return daemon.prune_soon


def _security(daemon: Daemon, new: DaemonConfig) -> Commit:
    """Tokens, certificate subjects, roles, limits and TLS files (photond.security): checked
    and read now; a change that needs a restart (socket group, TLS on or off) refuses."""
    return daemon.access.prepare_reload(new.security)


LIVE_KEYS: dict[str, Prepare] = {
    "security": _security,
    "log_level": _log_level,
    "planning_queue_limit": _queue_limit,
    "planning_idle_exit_s": _idle_exit,
    "retain_finished_jobs": _retention,
    "retain_finished_s": _retention,
    "running_jobs_on_restart": _read_from_config,
}


@dataclass(frozen=True)
class Reloaded:
    """What a reload did: live keys now in force, and keys kept until a restart."""

    applied: tuple[str, ...]
    need_restart: tuple[str, ...]


def changed_keys(old: DaemonConfig, new: DaemonConfig) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(DaemonConfig)
        if getattr(old, f.name) != getattr(new, f.name)
    ]


def apply(daemon: Daemon, new: DaemonConfig) -> Reloaded:
    """Put `new` (already checked) in force as far as it can be without a restart.

    Raises:
        ConfigError: a live key could not be prepared; nothing was changed.
    """
    old = daemon.config
    changed = changed_keys(old, new)
    # Certificates are rotated in place: with TLS on, [security] and its files are read again
    # at every reload, even when no path in it changed.
    if new.security.tls is not None and "security" not in changed:
        changed.append("security")
    live = [k for k in changed if k in LIVE_KEYS]
    restart = [k for k in changed if k not in LIVE_KEYS]
    effective = dataclasses.replace(new, **{k: getattr(old, k) for k in restart})
    commits = []
    for key in live:
        try:
            commits.append(LIVE_KEYS[key](daemon, effective))
        except (OSError, ValueError) as exc:
            reason = str(exc)
            raise ConfigError(reason if reason.startswith(key) else f"{key}: {reason}") from exc
    for commit in commits:
        commit()
    daemon.config = effective
    return Reloaded(tuple(live), tuple(restart))


async def reload(daemon: Daemon, load: Callable[[], DaemonConfig], notifier: Notifier) -> bool:
    """Read the configuration with `load` and apply it; False when it was refused."""
    notifier.reloading(time.monotonic_ns() // 1000)
    log.info("received SIGHUP: reloading the configuration")
    try:
        new = await asyncio.to_thread(load)
        outcome = apply(daemon, new)
    except ConfigError as exc:
        log.error(
            "configuration reload refused: the running configuration is kept",
            extra={"reason": str(exc)},
        )
        notifier.ready("reload refused, running configuration kept: " + str(exc))
        return False
    for key in outcome.need_restart:
        log.warning(
            "configuration key changed but needs a restart: the running value stays in force",
            extra={"key": key, "running": getattr(daemon.config, key), "new": getattr(new, key)},
        )
    # Logged even when the reload just raised the level past INFO: a reload is always seen.
    log.log(
        max(logging.INFO, logging.getLogger().getEffectiveLevel()),
        "configuration reloaded",
        extra={
            "applied": ",".join(outcome.applied) or "none",
            "need_restart": ",".join(outcome.need_restart) or "none",
        },
    )
    notifier.ready("configuration reloaded")
    return True
