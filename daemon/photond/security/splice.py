"""photond's Unix socket when callers get roles by uid/gid: accept, read credentials, splice.

grpcio cannot tell photond who is on a Unix socket (its auth context has no peer credentials:
grpc/grpc#15511, #28755) and cannot serve a connection photond accepted itself. So, when
[security.unix_users] or [security.unix_groups] is set, photond listens on the public socket
itself. For each connection it reads the peer's credentials (`peercred.read_peer_credentials`),
connects to gRPC's *internal* socket — in a 0700 directory only photond's user can enter — from
a socket bound to an abstract address that names the connection
(`photond-peer/<photond pid>/<uid>/<gid>:<random>`), registers the credentials under that name
(`peercred.PeerTable`), and copies bytes both ways. gRPC reports the name as the call's peer,
and the security interceptor turns it back into the credentials and a role.

The copying runs on an asyncio loop in a thread of its own ("photond-splice"): it never waits
on the device loops and the RPC event loop never waits on it. Per connection:
- backpressure: a side whose outgoing buffer passes `buffer_bytes` stops the other side's
  reading until it drains, so a slow reader holds at most ~2 x (`buffer_bytes` + one 256 KiB
  read) per connection in photond, and the writer is slowed by the kernel's socket buffers;
- half-close: an EOF from one side is passed on as a shutdown of writing to the other, which
  may go on answering; the pair closes when both sides have ended, or at once when either side
  goes away (reset, or a client that vanished): both sockets are freed together;
- limits: beyond `max_connections` open connections, or `max_connections_per_uid` of one uid,
  a new one is closed at once (the client sees UNAVAILABLE) and a warning says so, rather than
  running photond out of descriptors or letting one user take every slot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar, cast

from photond.security.peercred import (
    PEER_NAME_PREFIX,
    PeerTable,
    read_peer_credentials,
    user_name,
)

log = logging.getLogger("photond.splice")
T = TypeVar("T")

# Three descriptors a connection (client, splicer's upstream, gRPC's end): 256 stays well under
# the 1024 soft limit of descriptors a process gets by default.
DEFAULT_MAX_CONNECTIONS = 256
# One user's share: a program that leaks channels runs out before the others are refused.
DEFAULT_MAX_CONNECTIONS_PER_UID = 64
# Bytes a side's outgoing buffer holds before the other side's reading pauses.
DEFAULT_BUFFER_BYTES = 256 * 1024
# Seconds between warnings about refused connections (a burst logs once, with its count).
_REFUSAL_LOG_INTERVAL_S = 10.0
INTERNAL_SOCKET_NAME = "grpc.sock"


def private_socket_path() -> Path:
    """A path for gRPC's internal socket in a fresh 0700 directory: only photond's user (and
    root) can connect to it. Under the system's temporary directory, which keeps the path
    within the ~108 bytes a socket path may have (systemd's PrivateTmp makes it photond's own).
    """
    return Path(tempfile.mkdtemp(prefix="photond-")) / INTERNAL_SOCKET_NAME


class _Half(asyncio.Protocol):
    """One side of a spliced connection: what it reads is written to the other side."""

    def __init__(self, pair: _Pair) -> None:
        self.pair = pair
        self.transport: asyncio.Transport | None = None
        self.other: _Half = self
        self.eof = False

    def _other_transport(self) -> asyncio.Transport:
        assert self.other.transport is not None
        return self.other.transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.pair.closed:  # the other side went away while this one was being set up
            self.transport.abort()
            return
        self.transport.set_write_buffer_limits(high=self.pair.buffer_bytes)
        # Nothing is read until both sides are connected (`_Pair.start`).
        self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        self._other_transport().write(data)

    def eof_received(self) -> bool:
        self.eof = True
        if self.other.eof:
            self.pair.close()
            return False
        other = self._other_transport()
        if other.can_write_eof():
            other.write_eof()
        return True  # keep this side open: the other may still answer

    def pause_writing(self) -> None:
        # Our outgoing buffer is full: stop reading what fills it.
        self._other_transport().pause_reading()

    def resume_writing(self) -> None:
        self._other_transport().resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.pair.close()


class _Pair:
    """A client's connection and the splicer's connection to gRPC for it."""

    def __init__(self, splicer: Splicer, name: str, uid: int) -> None:
        self.splicer = splicer
        self.name = name
        self.uid = uid
        self.buffer_bytes = splicer.buffer_bytes
        self.client = _Half(self)
        self.upstream = _Half(self)
        self.client.other, self.upstream.other = self.upstream, self.client
        self.closed = False

    def start(self) -> None:
        for half in (self.client, self.upstream):
            assert half.transport is not None
            half.transport.resume_reading()

    def buffered_bytes(self) -> int:
        return sum(
            h.transport.get_write_buffer_size()
            for h in (self.client, self.upstream)
            if h.transport is not None
        )

    def close(self, abort: bool = False) -> None:
        """Free both sockets (flushing what is buffered, unless `abort`); once."""
        if self.closed:
            return
        self.closed = True
        for half in (self.client, self.upstream):
            if half.transport is not None:
                half.transport.abort() if abort else half.transport.close()
        self.splicer._closed(self)


class Splicer:
    """The public Unix socket's acceptor and the byte copier to gRPC's internal socket.

    Args:
        listener: the public socket, bound (and given its mode) by the caller.
        internal_path: gRPC's internal socket (`private_socket_path`).
        peers: where each connection's credentials are registered for the access policy.
    """

    def __init__(
        self,
        listener: socket.socket,
        internal_path: Path,
        peers: PeerTable,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_connections_per_uid: int = DEFAULT_MAX_CONNECTIONS_PER_UID,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    ) -> None:
        self.internal_path = internal_path
        self.peers = peers
        self.max_connections = max_connections
        self.max_connections_per_uid = max_connections_per_uid
        self.buffer_bytes = buffer_bytes
        self._listener = listener
        self._listener.setblocking(False)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="photond-splice", daemon=True)
        self._pairs: set[_Pair] = set()
        self._opening: set[asyncio.Task[None]] = set()
        # Connections accepted and not yet closed (opening ones included); the loop's thread
        # alone changes it.
        self._open_count = 0
        self._open_by_uid: Counter[int] = Counter()
        self._refused = 0
        self._refusal_logged_s = float("-inf")
        self._accepting: asyncio.Task[None] | None = None

    @classmethod
    def bind(
        cls, public_path: Path, internal_path: Path, peers: PeerTable, **kwargs: int
    ) -> Splicer:
        """Listen on `public_path` (its mode follows the umask: the caller sets it after)."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(public_path))
            listener.listen(socket.SOMAXCONN)
        except OSError:
            listener.close()
            raise
        return cls(listener, internal_path, peers, **kwargs)

    @property
    def connections(self) -> int:
        """Client connections open (or being opened) now."""
        return self._open_count

    def start(self) -> None:
        log.info(
            "Unix socket callers known by their credentials",
            extra={"socket": self._listener.getsockname(), "grpc_socket": str(self.internal_path)},
        )
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._accepting = self._loop.create_task(self._accept())
        self._loop.run_forever()

    def _call(self, fn: Callable[[], T]) -> T:
        """Run `fn()` on the splicer's loop and return its result (for stats and shutdown)."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def buffered_bytes(self) -> int:
        """Bytes held in the splicer's buffers now, all connections together."""
        return self._call(lambda: sum(p.buffered_bytes() for p in self._pairs))

    def close(self) -> None:
        """Stop accepting, close every connection, stop the thread, remove the internal
        socket's directory. Safe to call more than once, and before `start`."""
        if self._thread.is_alive():
            self._call(self._shutdown)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()
        self._listener.close()
        shutil.rmtree(self.internal_path.parent, ignore_errors=True)

    def _shutdown(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
        for task in list(self._opening):
            task.cancel()
        for pair in list(self._pairs):
            pair.close(abort=True)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self._listener)
            except OSError as exc:
                # Out of descriptors (EMFILE) and the like: wait, rather than spin.
                log.warning("accept on the Unix socket failed", extra={"error": str(exc)})
                await asyncio.sleep(0.1)
                continue
            if self._open_count >= self.max_connections:
                conn.close()
                self._refuse("too many open", self.max_connections)
                continue
            self._open_count += 1
            task = loop.create_task(self._open(conn))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    def _refuse(self, why: str, limit: int) -> None:
        self._refused += 1
        now_s = time.monotonic()
        if now_s - self._refusal_logged_s >= _REFUSAL_LOG_INTERVAL_S:
            self._refusal_logged_s = now_s
            log.warning(
                "Unix socket connection refused",
                extra={"reason": why, "limit": limit, "refused_total": self._refused},
            )

    async def _open(self, conn: socket.socket) -> None:
        """Credentials, a connection to gRPC from a name that carries them, then splice."""
        loop = asyncio.get_running_loop()
        upstream: socket.socket | None = None
        pair: _Pair | None = None
        counted_uid: int | None = None
        try:
            peer = read_peer_credentials(conn)
            if self._open_by_uid[peer.uid] >= self.max_connections_per_uid:
                self._refuse(f"uid {peer.uid} has too many open", self.max_connections_per_uid)
                self._open_count -= 1
                conn.close()
                return
            self._open_by_uid[peer.uid] += 1
            counted_uid = peer.uid
            # The user database may be remote (NSS): off the loop, which copies others' bytes.
            peer = replace(peer, user=await loop.run_in_executor(None, user_name, peer.uid))
            # The random part after a colon: OpenTelemetry's gRPC server instrumentation
            # splits every peer but `unix:` ones into HOST:PORT and fails the call otherwise
            # (opentelemetry-instrumentation-grpc 0.66b2, `_server.py` `_start_span`).
            name = f"{PEER_NAME_PREFIX}{os.getpid()}/{peer.uid}/{peer.gid}:{secrets.token_hex(8)}"
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.setblocking(False)
            # Abstract (leading NUL): no file, gone with the socket; random, so not squatted.
            upstream.bind("\0" + name)
            # Known before gRPC can see the connection (its bytes wait for `start` anyway).
            self.peers.add(name, peer)
            await loop.sock_connect(upstream, str(self.internal_path))
            pair = spliced = _Pair(self, name, peer.uid)
            self._pairs.add(pair)
            await loop.create_connection(lambda: spliced.upstream, sock=upstream)
            await loop.connect_accepted_socket(lambda: spliced.client, conn)
            pair.start()
        except BaseException as exc:
            if pair is not None:
                pair.close(abort=True)
            else:
                self._open_count -= 1
                if counted_uid is not None:
                    self._release_uid(counted_uid)
            conn.close()
            if upstream is not None:
                upstream.close()
                self.peers.discard(name)
            if isinstance(exc, OSError):
                log.warning("Unix socket connection not spliced", extra={"error": str(exc)})
                return
            raise

    def _closed(self, pair: _Pair) -> None:
        if pair in self._pairs:
            self._pairs.discard(pair)
            self.peers.discard(pair.name)
            self._open_count -= 1
            self._release_uid(pair.uid)

    def _release_uid(self, uid: int) -> None:
        self._open_by_uid[uid] -= 1
        if self._open_by_uid[uid] <= 0:
            del self._open_by_uid[uid]
