"""README.md's configuration tables agree with `otlp-mmap collect --help` and with the code.

* Every row of the collector's table (variables and flags) has the default `collect --help`
  gives it; every variable of --help's environment list is in that table (or, for the file's path,
  in the file's table); the flags' own descriptions give the same defaults as that list.
* The file's geometry defaults in README are what the writer creates with no OTLP_MMAP_*
  variables (otlp_mmap._native.Writer.geometry).

The binary: the collector_bin fixture (conftest.py).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

COLLECTOR_TABLE = "The collector"
FILE_TABLE = "The file"


# ---- README ----------------------------------------------------------------------------------

@dataclass
class Row:
    names: list[str]        # variables and flags, in full
    defaults: dict[str, str]  # name -> normalised default
    per_signal: bool        # "(and per signal)": OTEL_EXPORTER_OTLP_<SIGNAL>_... too
    text: str               # the row, for messages


def normalise(value: str) -> str:
    """Backticks, case, spacing and README's dash for "no default" do not count."""
    v = value.replace("`", "").strip().lower()
    v = re.sub(r"\s+", " ", v)
    v = re.sub(r"\s*\(required\)$", "", v)
    return "none" if v in ("—", "-", "") else v


def _expand(token: str) -> list[str]:
    """`A_{X,Y}_B` -> A_X_B, A_Y_B."""
    m = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", token)
    return [m[1] + part + m[3] for part in m[2].split(",")] if m else [token]


def parse_row(line: str) -> Row:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    names = [n for token in re.findall(r"`([^`]+)`", cells[0]) for n in _expand(token)]
    if not names or any(n.startswith("_") for n in names):
        raise ValueError(f"a configuration row must name each variable in full: {line}")
    values = [normalise(v) for v in cells[1].split(" / ")]
    if len(values) == 1:
        values = values * len(names)
    if len(values) != len(names):
        raise ValueError(f"{len(names)} names but {len(values)} defaults (a / b / ...): {line}")
    return Row(names, dict(zip(names, values)), "(and per signal)" in cells[0], line.strip())


def readme_tables(text: str) -> dict[str, list[Row]]:
    """The tables of README's Configuration section, by their bold title ("The collector", ...)."""
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, list[str]] = {}
    title = None
    for line in section.splitlines():
        m = re.match(r"\*\*(.+?)\*\*", line)
        if m:
            title = m[1]
        elif title and line.startswith("|") and not re.match(r"\|\s*(Variable|---)", line):
            tables.setdefault(title, []).append(line)
    return {t: [parse_row(line) for line in lines] for t, lines in tables.items() if t in (COLLECTOR_TABLE, FILE_TABLE)}


# ---- collect --help --------------------------------------------------------------------------

@dataclass
class Help:
    env: dict[str, str]           # variable -> default, from the environment list
    flags: dict[str, str]         # --flag -> default shown as --flag TYPE=default
    flag_mentions: dict[str, str]  # variable -> default, as a flag's description gives it


def parse_help(text: str) -> Help:
    options, footer = text.split("\nEnvironment (", 1)
    footer = footer.split("\n<SIGNAL> is", 1)[0]
    entries: list[tuple[list[str], str]] = []
    for line in footer.splitlines()[1:]:
        m = re.match(r"^  ([A-Z][A-Z0-9_<>]*(?:, [A-Z][A-Z0-9_<>]*)*)(?:\s+(.*))?$", line)
        if m:
            entries.append((m[1].split(", "), m[2] or ""))
        elif entries and line.startswith(" " * 10):
            entries[-1] = (entries[-1][0], f"{entries[-1][1]} {line.strip()}")
    env = {}
    for names, description in entries:
        d = re.search(r"\(default: ([^)]*)\)", description)
        for name in names:
            if d:
                env[name] = normalise(d[1])
    flags = {m[1]: normalise(m[2]) for m in re.finditer(r"^\s+(?:-\w,)?(--[a-z-]+) \S+?=(\S+)", options, re.M)}
    mentions = {m[1]: normalise(m[2]) for m in re.finditer(r"(OTEL_[A-Z_]+), default (\w+)", options)}
    return Help(env, flags, mentions)


def agrees(readme: str, help_default: str) -> bool:
    """README may give the default alone where --help goes on to explain it ("none, which ...")."""
    return help_default == readme or any(help_default.startswith(readme + sep) for sep in (",", ";"))


def mismatches(tables: dict[str, list[Row]], help_: Help) -> list[str]:
    """Every disagreement between README's tables and --help, as readable lines."""
    problems = []
    collector = tables[COLLECTOR_TABLE]
    for row in collector:
        for name in row.names:
            known = help_.flags if name.startswith("--") else help_.env
            if name not in known:
                problems.append(f"{name}: README's collector table has it, collect --help gives it no default")
            elif not agrees(row.defaults[name], known[name]):
                problems.append(f"{name}: README says {row.defaults[name]!r}, collect --help {known[name]!r}")
            if row.per_signal and not any(v.startswith("OTEL_EXPORTER_OTLP_<SIGNAL>_") and
                                          v.endswith(name.removeprefix("OTEL_EXPORTER_OTLP")) for v in help_.env):
                problems.append(f"{name}: README says 'and per signal', collect --help has no per-signal form")
    documented = {n for t in tables.values() for row in t for n in row.names}
    for name in help_.env:
        generic = name.replace("<SIGNAL>_", "")
        if name not in documented and not (generic in documented and any(
                generic in row.names and row.per_signal for row in collector)):
            problems.append(f"{name}: collect --help has a default for it, README's tables do not list it")
    for name in set(help_.env) & {n for row in tables[FILE_TABLE] for n in row.names}:
        (row,) = [r for r in tables[FILE_TABLE] if name in r.names]
        if not agrees(row.defaults[name], help_.env[name]):
            problems.append(f"{name}: README says {row.defaults[name]!r}, collect --help {help_.env[name]!r}")
    for name, value in help_.flag_mentions.items():
        if help_.env.get(name) != value:
            problems.append(f"{name}: a flag's description says default {value}, the environment list "
                            f"{help_.env.get(name)!r}")
    return problems


@pytest.fixture(scope="module")
def collect_help(collector_bin: Path) -> str:
    r = subprocess.run([str(collector_bin), "collect", "--help"], capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTLP_MMAP_"))})
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_readme_collector_defaults_agree_with_collect_help(collect_help):
    tables = readme_tables(README.read_text(encoding="utf-8"))
    help_ = parse_help(collect_help)
    assert len(help_.env) >= 20 and len(help_.flags) >= 5, help_  # the parser found the help's lists
    assert mismatches(tables, help_) == []


def test_a_wrong_readme_default_is_reported(collect_help):
    """The comparison catches a wrong value (the log records' batch delay README once gave)."""
    text = README.read_text(encoding="utf-8")
    wrong = re.sub(r"(\| `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BLRP_SCHEDULE_DELAY` \|) [^|]+\|", r"\1 5000 |", text)
    assert wrong != text, "README has no row for OTEL_BSP_SCHEDULE_DELAY, OTEL_BLRP_SCHEDULE_DELAY"
    expected = "OTEL_BLRP_SCHEDULE_DELAY: README says '5000', collect --help '1000'"
    help_ = parse_help(collect_help)
    assert expected in mismatches(readme_tables(wrong), help_)
    assert expected not in mismatches(readme_tables(text), help_)


# ---- the file's geometry -----------------------------------------------------------------------

def _size(value: str) -> int:
    m = re.fullmatch(r"(\d+)([kmg]?)", value)
    assert m, value
    return int(m[1]) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m[2]]


def test_readme_file_defaults_are_what_the_writer_creates(tmp_path, monkeypatch):
    from otlp_mmap import _native

    for name in list(os.environ):
        if name.startswith("OTLP_MMAP_"):
            monkeypatch.delenv(name)
    geometry = _native.Writer(str(tmp_path / "t.otlp")).geometry
    readme = {n: v for row in readme_tables(README.read_text(encoding="utf-8"))[FILE_TABLE]
              for n, v in row.defaults.items()}
    code = {"OTLP_MMAP_DICTIONARY_INITIAL_BYTES": geometry["dictionary_initial_bytes"],
            "OTLP_MMAP_DICTIONARY_MAX_BYTES": geometry["dictionary_max_bytes"]}
    for ring in ("events", "spans", "measurements"):
        code[f"OTLP_MMAP_{ring.upper()}_SLOTS"] = geometry[ring]["num_buffers"]
        code[f"OTLP_MMAP_{ring.upper()}_SLOT_SIZE"] = geometry[ring]["buffer_size"]
    assert {n: _size(readme[n]) for n in code} == code
    assert int(readme["OTLP_MMAP_FILE_MODE"], 8) == geometry["file_mode"]
