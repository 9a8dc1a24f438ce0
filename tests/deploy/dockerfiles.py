"""Read Dockerfiles as instruction lists (comments dropped, continuation lines joined)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile.*"))


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(path: Path) -> list[Instruction]:
    out: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    return out


_EXTRAS = re.compile(r"""pip install[^&;]*?["']?\.\[([a-z0-9_,-]+)\]["']?""")


def installed_extras(path: Path) -> set[str]:
    """Extras of this project that the Dockerfile's RUN lines pip-install (``.[a,b]``)."""
    extras: set[str] = set()
    for ins in instructions(path):
        if ins.keyword == "RUN":
            for match in _EXTRAS.finditer(ins.args):
                extras.update(match.group(1).split(","))
    return extras


def default_base(path: Path) -> str:
    """The image ``FROM`` names when built without --build-arg (``ARG`` defaults substituted)."""
    args: dict[str, str] = {}
    for ins in instructions(path):
        if ins.keyword == "ARG" and "=" in ins.args:
            key, _, value = ins.args.partition("=")
            args[key] = value
        elif ins.keyword == "FROM":
            return re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], ins.args.split()[0])
    raise ValueError(f"{path}: no FROM")
