"""The commands of the documentation's ```bash blocks (README.md and docs/*.md), read once for the tests.

Convention (docs/development.md): a command starts with `python` or `make`, or ends with a shell comment
`# needs: <what>`. `download` means it reads the released data (the tests run it on their fixture data
root); any other need (hub, gpu, slurm, network, ...) means it cannot run offline here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The pages whose commands are checked: the README first (later pages may read its runs' outputs).
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Command:
    text: str  # the command as written (continuation lines joined), without its trailing comment
    needs: tuple[str, ...]  # from `# needs: a, b`
    page: str  # the page's path in the repository
    line: int

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def runs_here(self) -> bool:
        return all(need == "download" for need in self.needs)


def page_commands(text: str, page: str) -> list[Command]:
    """The commands of every ```bash block of one page, in page order."""
    commands, block = [], None
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("```"):
            block = [] if line.strip() == "```bash" and block is None else None
            continue
        if block is None:
            continue
        if block and block[-1][1].rstrip().endswith("\\"):  # a continuation line
            block[-1] = (block[-1][0], block[-1][1].rstrip()[:-1] + " " + line.strip())
        elif line.strip() and not line.lstrip().startswith("#"):
            block.append((number, line.strip()))
        else:
            continue
        start, full = block[-1]
        code, _, comment = full.partition(" # ")
        match = re.search(r"needs:\s*([^;#]+)", comment)
        needs = tuple(n.strip() for n in match.group(1).split(",")) if match else ()
        command = Command(re.sub(r"\s+", " ", code).strip(), needs, page, start)
        if commands and commands[-1].line == start and commands[-1].page == page:
            commands[-1] = command
        else:
            commands.append(command)
    return commands


def all_commands() -> list[Command]:
    return [command for path in PAGES
            for command in page_commands(path.read_text(encoding="utf-8"), path.relative_to(REPO).as_posix())]
