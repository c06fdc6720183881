"""Every command the README and the docs show exists as written: each `liftlab ...` line names a command whose
help lists every option the line uses, and each `python -m benchmarks.X` module imports and takes the options
shown; the README stays a front door (short), and the guide's recipe reference lists exactly the `Recipe`'s
fields. (What the commands measure is checked by the benchmarks themselves, by hand.)"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.config import Recipe

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
GUIDE = (ROOT / "docs" / "guide.md").read_text()
DOCS = "\n".join([README, GUIDE, (ROOT / "docs" / "benchmarks.md").read_text()])
README_LINES = 250
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
GROUPS = {"data", "augment"}  # commands with subcommands: `liftlab data check`, `liftlab augment preview`


def _liftlab_lines() -> dict[tuple[str, ...], set[str]]:
    """(command words) -> options, over every line of the docs that runs liftlab (code spans and blocks)."""
    found: dict[tuple[str, ...], set[str]] = {}
    for match in re.finditer(r"(?:^|`|-m )liftlab ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)([^`\n]*)", DOCS, re.M):
        words = match.group(1).split()
        command = tuple(words[:2]) if words[0] in GROUPS and len(words) > 1 else (words[0],)
        options = set(OPTION.findall(match.group(2).split("#")[0]))
        found.setdefault(command, set()).update(options)
    return found


def _benchmark_lines() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for match in re.finditer(r"python -m benchmarks\.([a-z_0-9]+)([^`\n]*)", DOCS):
        found.setdefault(match.group(1), set()).update(OPTION.findall(match.group(2).split("#")[0]))
    return found


COMMANDS = _liftlab_lines()
BENCHMARKS = _benchmark_lines()


def test_the_readme_is_a_front_door_that_shows_the_main_commands() -> None:
    assert len(README.splitlines()) <= README_LINES
    assert README.index("make demo") < README.index("make test") < 400  # the two set-up commands open it
    shown = {words for words in COMMANDS if re.search(rf"liftlab {' '.join(words)}\b", README)}
    assert {("improve",), ("diagnose",), ("ablate",), ("train",), ("evaluate",), ("tune",), ("predict",)} <= shown
    assert len(BENCHMARKS) >= 8


def test_the_recipe_reference_lists_every_field_of_the_recipe() -> None:
    """The guide's table of recipe fields, row by row against `Recipe`: a field added to the code and not to
    the table (or a field in the table the code no longer has) fails here."""
    sections = {name: field.annotation for name, field in Recipe.model_fields.items()
                if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)}  # fmt: skip
    expected = {name: set(model.model_fields) for name, model in sections.items()}
    expected["top level"] = set(Recipe.model_fields) - set(sections)
    rows = {}
    for line in GUIDE.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        section = cells[0] if cells[0] == "top level" else cells[0][1:-1] if cells[0].startswith("`") else ""
        if len(cells) == 2 and section in expected:
            rows[section] = set(re.findall(r"`([a-z_0-9]+)`", cells[1]))
    assert rows == expected


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_each_readme_command_exists_with_the_options_it_shows(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, f"liftlab {' '.join(command)} --help: {result.output}"
    missing = {option for option in COMMANDS[command] if option not in result.output} - {"--help"}
    assert not missing, f"README uses {sorted(missing)} with `liftlab {' '.join(command)}`, which has no such option"


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_each_readme_benchmark_imports_and_takes_its_options(name: str) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    assert callable(getattr(module, "main", None)), f"benchmarks.{name} has no main()"
    if BENCHMARKS[name]:
        shown = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--help"], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        missing = {option for option in BENCHMARKS[name] if option not in shown.stdout}
        assert not missing, f"README uses {sorted(missing)} with benchmarks.{name}"


def test_make_bench_and_demo_are_targets() -> None:
    for target in ("demo", "test", "bench"):
        dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0, dry.stderr
    assert "-m benchmarks." in subprocess.run(["make", "-n", "bench"], cwd=ROOT, capture_output=True, text=True).stdout
