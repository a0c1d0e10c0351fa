"""sd_notify against real AF_UNIX datagram sockets: a path, and the abstract namespace."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from photond.service.notify import Notifier, socket_address, watchdog_interval_s


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


def test_ready_sends_one_datagram_with_status_and_mainpid(
    receiver: tuple[socket.socket, str],
) -> None:
    sock, path = receiver
    assert Notifier(path).ready("2 devices,\n1 serving")
    lines = sock.recv(4096).decode().split("\n")
    assert lines == ["READY=1", "STATUS=2 devices, 1 serving", f"MAINPID={os.getpid()}"]


def test_each_message_kind(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    notifier = Notifier(path, watchdog_s=4.0)
    notifier.watchdog()
    notifier.status("hot")
    notifier.reloading(123)
    notifier.stopping("parking")
    got = [sock.recv(4096).decode() for _ in range(4)]
    assert got == [
        "WATCHDOG=1",
        "STATUS=hot",
        "RELOADING=1\nMONOTONIC_USEC=123",
        "STOPPING=1\nSTATUS=parking",
    ]


def test_an_at_name_is_the_abstract_namespace() -> None:
    name = f"photond-test-{uuid.uuid4().hex}"
    assert socket_address("@" + name) == b"\0" + name.encode()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        assert Notifier("@" + name).watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_without_a_socket_nothing_is_sent() -> None:
    assert not Notifier().enabled
    assert not Notifier().ready("x")


def test_a_socket_that_is_gone_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # At WARNING whatever level an earlier test in this process left photond's loggers at.
    caplog.set_level(logging.WARNING, logger="photond")
    assert not Notifier(str(tmp_path / "nobody")).watchdog()
    assert "sd_notify failed" in caplog.text


def test_from_environment_takes_the_variables_out(receiver: tuple[socket.socket, str]) -> None:
    _, path = receiver
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = Notifier.from_environment(env)
    assert (notifier.socket_name, notifier.watchdog_s) == (path, 4.0)
    assert env == {}  # a spawned planning process must not speak for the daemon


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "3000000"}, 3.0),
        ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_the_watchdog_interval_is_ours_only(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval_s(env, os.getpid()) == expected
