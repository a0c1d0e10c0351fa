"""Who is calling: the identity of the current RPC, set by the interceptor for the handlers.

A handler reads `current_call()` to stamp a job with its owner, to refuse cancelling someone
else's job below admin, and to add what it did (a job id) to the call's audit line.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

from photond.security.roles import Role


@dataclass(frozen=True)
class Identity:
    """An authenticated caller. `name` says how it was known: `token:NAME`, `cert:SUBJECT`,
    `uid:<n>(<user>)` (the Unix socket's peer credentials) or `unix-socket` (whoever the socket
    file's mode and group let connect, when no uid/gid mapping is configured)."""

    name: str
    role: Role

    def may_cancel(self, owner: str) -> bool:
        """Operators cancel their own jobs; admins anyone's."""
        return self.role >= Role.ADMIN or (self.role >= Role.OPERATOR and owner == self.name)


@dataclass
class CallInfo:
    identity: Identity
    method: str
    # What the handler adds to the audit line (e.g. the job a submission made).
    notes: dict[str, str] = field(default_factory=dict)


_current: contextvars.ContextVar[CallInfo | None] = contextvars.ContextVar(
    "photond_call", default=None
)


def current_call() -> CallInfo | None:
    """The current RPC's caller, or None outside a call the interceptor saw (unit tests that
    drive a servicer directly)."""
    return _current.get()


def set_call(info: CallInfo) -> contextvars.Token[CallInfo | None]:
    return _current.set(info)


def reset_call(token: contextvars.Token[CallInfo | None]) -> None:
    _current.reset(token)
