"""docs/photonctl.md documents every command and flag photonctl has, and its exit codes."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from photon_sdk.cli import EXIT_CODES, _parser

REFERENCE = (Path(__file__).resolve().parent.parent / "docs" / "photonctl.md").read_text()


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("photonctl has no commands")


def test_every_command_has_a_section_with_an_example() -> None:
    headings = re.findall(r"^### (.+)$", REFERENCE, flags=re.M)
    documented = {word for heading in headings for word in re.findall(r"\b[a-z]+\b", heading)}
    for name in _commands():
        assert name in documented, f"docs/photonctl.md has no section for {name}"
        assert f"photonctl {name}" in REFERENCE, f"no example of {name}"


def test_every_flag_is_mentioned() -> None:
    for name, command in _commands().items():
        for action in command._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in REFERENCE, f"{name} {flag} is not in docs/photonctl.md"


def test_exit_codes_are_the_same_table() -> None:
    for code in EXIT_CODES:
        assert f"| {code} |" in REFERENCE, code
