#!/usr/bin/env python3
"""Put the latest benchmark tables into README.md, between ``<!-- bench:start -->`` and
``<!-- bench:end -->``: ``python benchmarks/update_readme.py results/latest.md [more.md]``.

Each report's title line is dropped and its headings go two levels down, so they sit under
the README's "Performance" section. An optional ``--intro`` paragraph comes first.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def demote(markdown: str) -> str:
    lines = markdown.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(re.sub(r"^(#+) ", r"\1## ", line) for line in lines).strip()


def splice(readme: str, block: str) -> str:
    start, end = readme.index(START), readme.index(END)
    return readme[:start + len(START)] + "\n" + block + "\n" + readme[end:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="+", type=Path)
    ap.add_argument("--intro", default="", help="a paragraph before the tables")
    args = ap.parse_args()
    parts = [args.intro.strip()] if args.intro.strip() else []
    parts += [demote(report.read_text()) for report in args.reports]
    README.write_text(splice(README.read_text(), "\n\n".join(parts)))
    print(f"updated {README} from {', '.join(str(r) for r in args.reports)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
