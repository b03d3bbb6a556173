"""Every command the README gives is run, as a user would type it from a fresh shell.

Commands come from its ``bash`` blocks and from inline code that starts with ``make`` or
``.venv/bin/python -m``. Cheap ones run for real (``make help``, ``--list``, ``--describe``,
``lib.data list``, one smoke notebook). Expensive ones run through their real entry point with
``ADV_DRY_RUN=1``: ``make reproduce`` checks the profile, reports, every parameter and the data
and prints who takes which parameter, ``make handin`` checks the profile and says what is ready,
``make lab`` checks ``LAB_ARGS`` and prints its command; all of that stops before compute.
``make test``, ``make benchmark``, ``make notebooks`` and the data targets are checked with
``make -n`` (their recipe exists and expands).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest

from lib import runtime

README = runtime.REPO_ROOT / "README.md"
#: Run for real: a smoke notebook on synthetic data, seconds.
REAL = {"make reproduce PROFILE=smoke REPORTS=library_tour PARAMS=\"eps=0,0.1,0.2 'dataset=synthetic28'\""}
#: make targets checked with `make -n` (long, recursive, or writing to the working tree).
DRY_MAKE = ("test", "benchmark", "paper-check", "notebooks", "data", "data-quick", "install", "lint", "clean",
            "clean-results")
#: Known to fail today, each with the issue that fixes it (none now: issue 19 item 10, the README's
#: PARAMS dict with quotes inside, is parsed since the runner reads PARAMS itself).
KNOWN: dict[str, str] = {}


def readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words) if '"' not in line else line.split(" #")[0].strip())
    commands += re.findall(r"`((?:make|\.venv/bin/python -m) [^`]+)`", text)
    commands += [c for c in re.findall(r"`(make [a-z-]+)`", text)]
    placeholders = {"<report>": "library_tour", "<id>": "library_tour"}
    out = []
    for command in commands:
        for key, value in placeholders.items():
            command = command.replace(key, value)
        command = " ".join(command.split())
        if command not in out and not command.startswith("make <"):
            out.append(command)
    return out


def test_the_readme_gives_commands():
    commands = readme_commands()
    assert "make reproduce" in commands and "make handin PROFILE=quick" in commands
    assert any(c.startswith(".venv/bin/python -m lib.runner --describe") for c in commands)
    assert not [c for c in commands if c.startswith("python ")], "commands that fail outside an active env"


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_works(command, tmp_path):
    if command in KNOWN:
        pytest.xfail(KNOWN[command])
    command, _, pipe = command.partition(" | ")   # `| tee log`: the output goes to a pipe, as here
    words = shlex.split(command)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADV_") or k in ("ADV_CHECKPOINT_DIR",)}
    env.update(ADV_FIGURES_DIR=str(tmp_path / "figures"), ADV_PROGRESS="0")
    if words[0] == "make" and len(words) > 1 and words[1] in DRY_MAKE:
        words = ["make", "-n", *words[1:]]
    elif command not in REAL and (words[:2] in (["make", "reproduce"], ["make", "handin"], ["make", "lab"])
                                  or "lib.runner" in command and "--list" not in command
                                  and "--describe" not in command):
        env["ADV_DRY_RUN"] = "1"
    proc = subprocess.run(words, cwd=runtime.REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and "is not available in" in output:
        pytest.skip(f"needs data this machine lacks: {output[-300:]}")
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    if pipe:
        assert "\r" not in output, "a pipe gets whole lines, never a redrawn bar"
    if env.get("ADV_DRY_RUN") and words[:2] == ["make", "reproduce"]:
        assert "everything is checked, nothing is run" in output
    if command in REAL:
        assert (tmp_path / "figures" / "smoke" / "library_tour" / "provenance.json").is_file()
