"""Patterns for .gitattributes lines: quoting as git reads them, and a literal path as a
pattern that matches only itself (used by `git data track` and the importers)."""

from __future__ import annotations


def quote_pattern(pattern: str) -> str:
    """gitattributes needs C-style quotes for patterns with spaces or special bytes."""
    if pattern and all(c not in pattern for c in ' \t"\\\n') and pattern.isprintable():
        return pattern
    escaped = (pattern.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\t", "\\t"))
    return f'"{escaped}"'


def escape_glob(path: str) -> str:
    """A literal path as a gitattributes pattern that matches only itself."""
    out = "".join(f"\\{c}" if c in "*?[]\\" else c for c in path)
    return "/" + out if not out.startswith("/") else out
