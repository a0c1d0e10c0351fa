"""The splicer on real Unix sockets: bytes both ways, half-close, a vanished client, the limit,
backpressure against a slow reader, and shutdown. The "gRPC" side here is a plain socket server
so each property can be watched from both ends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from photond.security.peercred import PeerTable
from photond.security.splice import Splicer, private_socket_path


class Upstream:
    """The internal listener: accepts, hands each connection to the test."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.sock.settimeout(10)

    def accept(self) -> socket.socket:
        conn, _ = self.sock.accept()
        _opened.append(conn)
        conn.settimeout(10)
        return conn


# Every socket a test opens, closed after it (pytest runs with warnings as errors).
_opened: list[socket.socket] = []


@pytest.fixture
def rig() -> Iterator[tuple[Path, Upstream, PeerTable, Callable[..., Splicer]]]:
    folder = Path(tempfile.mkdtemp(prefix="spl-"))
    internal = private_socket_path()
    upstream = Upstream(internal)
    _opened.append(upstream.sock)
    peers = PeerTable()
    made: list[Splicer] = []

    def make(**kwargs: int) -> Splicer:
        splicer = Splicer.bind(folder / "public.sock", internal, peers, **kwargs)
        splicer.start()
        made.append(splicer)
        return splicer

    yield folder / "public.sock", upstream, peers, make
    for splicer in made:
        splicer.close()
    while _opened:
        _opened.pop().close()


def connect(path: Path) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    _opened.append(client)
    client.settimeout(10)
    client.connect(str(path))
    return client


def servers_of(upstream: Upstream, clients: list[socket.socket]) -> list[socket.socket]:
    """The upstream ends of `clients`' spliced connections, in the clients' order: the
    splicer connects upstream on its own thread, not necessarily in the order clients came."""
    servers = [upstream.accept() for _ in clients]
    for i, client in enumerate(clients):
        client.sendall(bytes([i]))
    ordered: dict[int, socket.socket] = {}
    for server in servers:
        ordered[server.recv(1)[0]] = server
    return [ordered[i] for i in range(len(clients))]


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_bytes_flow_both_ways_and_the_peer_is_registered_by_its_name(rig) -> None:  # type: ignore[no-untyped-def]
    public, upstream, peers, make = rig
    make()
    client = connect(public)
    server = upstream.accept()
    name = server.getpeername()
    assert isinstance(name, bytes) and name.startswith(b"\0photond-peer/")
    found = peers.lookup("unix-abstract:" + name[1:].decode())
    assert found is not None
    assert (found.pid, found.uid, found.gid) == (os.getpid(), os.geteuid(), os.getegid())
    client.sendall(b"ping")
    assert server.recv(4) == b"ping"
    server.sendall(b"pong")
    assert client.recv(4) == b"pong"
    # A name the splicer did not register resolves to nobody.
    assert peers.lookup("unix-abstract:photond-peer/1/0/0:forged") is None


def test_half_close_passes_the_eof_on_and_the_answer_back(rig) -> None:  # type: ignore[no-untyped-def]
    public, upstream, _, make = rig
    splicer = make()
    client = connect(public)
    server = upstream.accept()
    client.sendall(b"question")
    client.shutdown(socket.SHUT_WR)
    assert read_all(server) == b"question"  # the EOF arrived
    server.sendall(b"answer after the client's EOF")
    server.close()
    assert read_all(client) == b"answer after the client's EOF"
    wait_for(lambda: splicer.connections == 0, "pair freed once both sides ended")


def test_a_vanished_client_frees_both_sockets(rig) -> None:  # type: ignore[no-untyped-def]
    public, upstream, peers, make = rig
    splicer = make()
    client = connect(public)
    server = upstream.accept()
    wait_for(lambda: splicer.connections == 1 and len(peers) == 1, "spliced")
    client.close()  # the process died: the kernel closed its socket
    assert server.recv(1) == b""  # passed on as an EOF, as a half-close would be
    # gRPC answers (a GOAWAY, say): writing to the dead client fails, and both sides go.
    server.sendall(b"bye")
    wait_for(lambda: splicer.connections == 0 and len(peers) == 0, "pair freed")
    assert read_all(server) == b""


def test_connections_beyond_the_limit_are_closed_at_once(rig) -> None:  # type: ignore[no-untyped-def]
    public, upstream, _, make = rig
    splicer = make(max_connections=2)
    kept = [connect(public), connect(public)]
    servers = servers_of(upstream, kept)
    wait_for(lambda: splicer.connections == 2, "two spliced")
    refused = connect(public)
    assert refused.recv(1) == b""  # closed without reaching gRPC
    upstream.sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        upstream.sock.accept()
    # A slot freed is a slot taken again.
    kept[0].close()
    assert read_all(servers[0]) == b""
    servers[0].close()
    wait_for(lambda: splicer.connections == 1, "one freed")
    connect(public)
    upstream.sock.settimeout(10)
    upstream.accept()


def test_a_slow_reader_holds_back_the_writer_not_photonds_memory(rig) -> None:  # type: ignore[no-untyped-def]
    public, upstream, _, make = rig
    buffer_bytes = 64 * 1024
    splicer = make(buffer_bytes=buffer_bytes)
    client = connect(public)
    server = upstream.accept()
    total = 64 * 1024 * 1024
    payload = os.urandom(1024 * 1024)
    sent = [0]

    def write() -> None:
        for _ in range(total // len(payload)):
            server.sendall(payload)
            sent[0] += len(payload)
        server.shutdown(socket.SHUT_WR)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    time.sleep(1.0)  # the client reads nothing meanwhile
    # Held back: the writer is stuck in sendall, and photond buffers about one window.
    assert sent[0] < total // 4
    held = splicer.buffered_bytes()
    assert held <= 2 * (buffer_bytes + 256 * 1024), held
    received = read_all(client)
    writer.join(10)
    assert len(received) == total
    assert received[: len(payload)] == payload and received[-len(payload) :] == payload


def test_close_ends_every_connection_and_removes_the_internal_directory(rig) -> None:  # type: ignore[no-untyped-def]
    public, upstream, peers, make = rig
    splicer = make()
    client = connect(public)
    server = upstream.accept()
    wait_for(lambda: splicer.connections == 1, "spliced")
    splicer.close()
    assert read_all(client) == b""
    assert read_all(server) == b""
    assert len(peers) == 0
    assert not splicer.internal_path.parent.exists()
    with pytest.raises(OSError):
        connect(public).recv(1)


CONNECT_AS_NOBODY = """
import os, socket, sys
os.setgid(65534)
os.setuid(65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b"from nobody")
print(s.recv(10).decode(), flush=True)
"""


def test_one_uid_cannot_take_every_slot(rig) -> None:  # type: ignore[no-untyped-def]
    public, upstream, _, make = rig
    splicer = make(max_connections_per_uid=2)
    kept = [connect(public), connect(public)]
    servers = servers_of(upstream, kept)
    wait_for(lambda: splicer.connections == 2, "two spliced")
    assert connect(public).recv(1) == b""  # this uid's third: closed at once
    wait_for(lambda: splicer.connections == 2, "the third let go")
    if os.geteuid() == 0:
        # Another uid still gets in.
        os.chmod(public.parent, 0o755)
        os.chmod(public, 0o777)
        other = subprocess.Popen(
            [sys.executable, "-c", CONNECT_AS_NOBODY, str(public)],
            stdout=subprocess.PIPE,
            text=True,
        )
        server = upstream.accept()
        assert server.recv(11) == b"from nobody"
        server.sendall(b"welcome")
        assert other.communicate(timeout=30)[0] == "welcome\n"
    kept[0].close()
    assert read_all(servers[0]) == b""
    servers[0].close()
    # The splicer frees the slot on its own thread: connecting before it has would be refused.
    uid = os.geteuid()
    wait_for(lambda: splicer._open_by_uid[uid] == 1, "the closed pair's slot freed")
    connect(public)  # a slot of its own uid freed, taken again
    upstream.accept()
