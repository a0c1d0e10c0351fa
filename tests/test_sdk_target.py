"""Where the SDK looks for the daemon when nobody names it: the search order of _target.py."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from photon_sdk import (
    DEFAULT_TCP_PORT,
    SYSTEM_SOCKET_PATH,
    _target,
    default_socket_path,
    default_target,
    socket_search_path,
)

TCP = f"127.0.0.1:{DEFAULT_TCP_PORT}"


@pytest.fixture
def root() -> Iterator[Path]:
    # Under /tmp with a short name: Unix socket paths are limited to ~108 bytes.
    path = Path(tempfile.mkdtemp(prefix="tg-")).resolve()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def places(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A user runtime dir, a checkout and a system socket path, none with a socket yet."""
    runtime, checkout = root / "xdg", root / "checkout"
    runtime.mkdir()
    checkout.mkdir()
    system = root / "system" / "photond" / "photond.sock"
    monkeypatch.delenv("PHOTON_TARGET", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.chdir(checkout)
    # The real /run/photond is the host's; the search reads the module's constant.
    monkeypatch.setattr(_target, "SYSTEM_SOCKET_PATH", system)
    return {
        "user": runtime / "photond" / "photond.sock",
        "checkout": checkout / "run" / "photond.sock",
        "system": system,
    }


def listen(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen()
    return sock


def test_search_order_is_user_then_checkout_then_system(places: dict[str, Path]) -> None:
    assert socket_search_path() == [places["user"], places["checkout"], places["system"]]


def test_without_xdg_runtime_dir_the_checkout_comes_first(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert socket_search_path() == [places["checkout"], places["system"]]


def test_the_shipped_search_ends_at_the_system_socket() -> None:
    assert Path("/run/photond/photond.sock") == SYSTEM_SOCKET_PATH
    assert socket_search_path()[-1] == SYSTEM_SOCKET_PATH


def test_no_socket_anywhere_falls_back_to_tcp(places: dict[str, Path]) -> None:
    assert default_target() == TCP


def test_the_first_existing_socket_wins(places: dict[str, Path]) -> None:
    system = listen(places["system"])
    try:
        assert default_target() == f"unix:{places['system']}"
        checkout = listen(places["checkout"])
        try:
            assert default_target() == f"unix:{places['checkout']}"
            with listen(places["user"]):
                assert default_target() == f"unix:{places['user']}"
        finally:
            checkout.close()
    finally:
        system.close()


def test_a_plain_file_is_not_a_socket(places: dict[str, Path]) -> None:
    places["user"].parent.mkdir(parents=True)
    places["user"].write_text("not a socket")
    with listen(places["system"]):
        assert default_target() == f"unix:{places['system']}"


def test_photon_target_overrides_the_search(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    with listen(places["user"]):
        monkeypatch.setenv("PHOTON_TARGET", "lab-02:7451")
        assert default_target() == "lab-02:7451"


def test_the_daemon_listens_where_the_search_looks_first(places: dict[str, Path]) -> None:
    # photond's default listener is default_socket_path(): the search's first place.
    assert default_socket_path() == socket_search_path()[0]
