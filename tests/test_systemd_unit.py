"""The shipped unit, sysusers file and example config, checked by systemd's own tools.

`systemd-analyze verify` needs ExecStart's binary to exist, so it runs on a copy of the unit
whose ExecStart is this checkout's photond (the shipped path, /opt/photond/.venv/bin/photond,
is where docs/operations.md installs it); the copy differs in that one line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photond.config import ENV_VARIABLES, OTHER_ENV_VARIABLES

SYSTEMD = Path(__file__).parents[1] / "systemd"
UNIT = SYSTEMD / "photond.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze not found: install the Debian package systemd"
)
MAX_EXPOSURE = 2.5


def unit_lines() -> list[tuple[str, str]]:
    pairs = []
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


def installed_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's photond, which exists."""
    photond = Path(sys.executable).parent / "photond"
    assert photond.exists(), "the photond console script is installed in the venv"
    text = re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={photond}", UNIT.read_text())
    copy = tmp_path / "photond.service"
    copy.write_text(text)
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=120)


@needs_analyze
def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    run = analyze("verify", str(installed_copy(tmp_path)))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "photond.service" not in run.stdout + run.stderr  # not a warning either


@needs_analyze
def test_verify_does_check_the_command(tmp_path: Path) -> None:
    """The copy is needed: the same unit with a missing binary fails verification."""
    copy = tmp_path / "photond.service"
    copy.write_text(UNIT.read_text().replace("/opt/photond/", str(tmp_path / "nowhere") + "/"))
    run = analyze("verify", str(copy))
    assert run.returncode != 0
    assert "is not executable" in run.stderr


@needs_analyze
def test_security_exposure_is_at_most_2_5(tmp_path: Path) -> None:
    run = analyze("security", "--offline=true", "--no-pager", str(installed_copy(tmp_path)))
    found = re.search(r"Overall exposure level for photond\.service: (\d+\.\d+)", run.stdout)
    assert found, run.stdout + run.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, run.stdout


def test_the_unit_is_a_notify_service_with_watchdog_reload_and_directories() -> None:
    settings = dict(unit_lines())
    assert settings["Type"] == "notify"
    assert settings["NotifyAccess"] == "main"
    assert int(settings["WatchdogSec"]) > 0
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert settings["SupplementaryGroups"] == "dialout"
    for key in ("StateDirectory", "RuntimeDirectory", "CacheDirectory", "ConfigurationDirectory"):
        assert settings[key] == "photond"


def test_the_units_photon_variables_are_ones_photond_reads() -> None:
    variables = [v.partition("=")[0] for k, v in unit_lines() if k == "Environment"]
    photon = [v for v in variables if v.startswith("PHOTON_")]
    assert photon and set(photon) <= set(ENV_VARIABLES) | set(OTHER_ENV_VARIABLES)


@pytest.mark.skipif(
    shutil.which("systemd-sysusers") is None,
    reason="systemd-sysusers not found: install the Debian package systemd",
)
def test_sysusers_creates_photond_in_dialout(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\ndialout:x:20:\n")
    with open(SYSTEMD / "photond.sysusers.conf") as conf:
        run = subprocess.run(
            ["systemd-sysusers", f"--root={tmp_path}", "-"],
            stdin=conf,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 0, run.stderr
    passwd = (etc / "passwd").read_text()
    assert re.search(r"(?m)^photond:x:\d+:\d+:photond control daemon:/var/lib/photond:", passwd)
    assert "dialout:x:20:photond" in (etc / "group").read_text()


def test_the_example_config_checks() -> None:
    example = SYSTEMD / "photond.toml"
    run = subprocess.run(
        [sys.executable, "-m", "photond", "check-config", "--config", str(example)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert 'log_level = "INFO"  # file' in run.stdout
