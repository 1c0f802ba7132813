"""Manual pages made from the click command tree, so that `man git-data`, `git data --help`
and `git help data` (git turns both into `man git-data`) show what `-h` shows.

    click tree -> one page per top-level command (a group's subcommands on its page, as
    git-remote(1) does) -> roff: NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXAMPLES, SEE ALSO

A command's docstring is its description: the first line is the NAME line, a ``\\b`` block
that starts with ``Examples:`` becomes EXAMPLES. Pages are written by
``python -m git_data.cli.manpages DIR`` into ``DIR`` (``make man`` refreshes the committed
copies in ``man/man1``, which a wheel installs as data files into
``<prefix>/share/man/man1``; ``make venv``/``make deps`` write them into the venv, because
an editable install leaves data files out). ``man`` finds them from ``PATH``:
``<venv>/bin`` -> ``<venv>/share/man``. `git data help` renders the running code's page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

PROG = "git data"
MANUAL = "Git Data Manual"


def pages(root: click.Group) -> dict[str, str]:
    """File name -> roff text of every page: git-data.1 and git-data-CMD.1."""
    ctx = _root_context(root)
    out = {"git-data.1": _main_page(root, ctx)}
    for name, cmd in _visible(root, ctx):
        out[f"git-data-{name}.1"] = _command_page(name, cmd, ctx)
    return out


def _root_context(root: click.Group) -> click.Context:
    return click.Context(root, info_name=PROG, **root.context_settings)


def _visible(group: click.Group, ctx: click.Context) -> list[tuple[str, click.Command]]:
    found = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is not None and not cmd.hidden:
            found.append((name, cmd))
    return found


def _header(title: str, summary: str) -> list[str]:
    return [f'.TH "{title.upper()}" "1" "" "git-data" "{MANUAL}"', ".SH NAME",
            f"{_esc(title)} \\- {_esc(summary)}"]


def _main_page(root: click.Group, ctx: click.Context) -> str:
    lines = _header("git-data", _summary(root))
    lines += [".SH SYNOPSIS", ".nf", _esc(f"{PROG} [-q] [--version] [-h] COMMAND [ARGS]..."),
              ".fi", ".SH DESCRIPTION"]
    lines += _paragraphs(_description(root))
    lines += [".SH COMMANDS"]
    for name, cmd in _visible(root, ctx):
        lines += [".TP", f"\\fB{_esc(name)}\\fR", _esc(_summary(cmd)) + ";",
                  f"see \\fBgit-data-{_esc(name)}\\fR(1)."]
    lines += _options(root, ctx)
    lines += _examples(root)
    lines += [".SH SEE ALSO", "\\fBgit\\fR(1), \\fBgitattributes\\fR(5), "
              + ", ".join(f"\\fBgit-data-{_esc(n)}\\fR(1)" for n, _ in _visible(root, ctx))]
    return "\n".join(lines) + "\n"


def _command_page(name: str, cmd: click.Command, parent: click.Context) -> str:
    ctx = click.Context(cmd, info_name=name, parent=parent)
    lines = _header(f"git-data-{name}", _summary(cmd))
    lines += [".SH SYNOPSIS", ".nf"]
    subs = _visible(cmd, ctx) if isinstance(cmd, click.Group) else []
    if subs:
        for sub_name, sub in subs:
            sub_ctx = click.Context(sub, info_name=sub_name, parent=ctx)
            lines += [_esc(x) for x in synopsis(sub, sub_ctx).splitlines()]
    else:
        lines += [_esc(x) for x in synopsis(cmd, ctx).splitlines()]
    lines += [".fi", ".SH DESCRIPTION"]
    lines += _paragraphs(_description(cmd))
    if subs:
        lines.append(".SH COMMANDS")
        for sub_name, sub in subs:
            sub_ctx = click.Context(sub, info_name=sub_name, parent=ctx)
            lines += [".TP", f"\\fB{_esc(sub_name)}\\fR"]
            lines += _paragraphs(_description(sub), first="")
            lines += _options(sub, sub_ctx, heading=False)
    lines += _options(cmd, ctx)
    lines += _examples(cmd)
    lines += [".SH SEE ALSO", "\\fBgit-data\\fR(1)"]
    return "\n".join(lines) + "\n"


def synopsis(cmd: click.Command, ctx: click.Context) -> str:
    """``git data clone [--no-data] [-b BRANCH] ... URL [DIRECTORY]``: every option named,
    then the arguments, as git's synopses do; wrapped at 78 columns."""
    words, arguments = [ctx.command_path], []
    helps = set(ctx.help_option_names)
    for param in cmd.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden and not helps & set(
                param.opts):
            flag = min(param.opts, key=len)
            value = "" if param.is_flag or param.count else f" {_metavar(param, ctx)}"
            if getattr(param, "_flag_needs_value", False):  # --remote [NAME]
                value = f" [{(param.metavar or 'VALUE').strip('[]')}]"
            words.append(f"[{flag}{value}]")
        elif isinstance(param, click.Argument):
            arguments.append(_metavar(param, ctx))
    lines = [""]
    for word in words + arguments:
        if lines[-1] and len(lines[-1]) + len(word) >= 78:
            lines.append(" " * (len(ctx.command_path) + 1))
        lines[-1] += (" " if lines[-1].strip() else "") + word
    return "\n".join(lines)


def _metavar(param: click.Parameter, ctx: click.Context) -> str:
    try:
        return param.make_metavar(ctx)  # click >= 8.2
    except TypeError:
        return param.make_metavar()  # type: ignore[call-arg]


def _options(cmd: click.Command, ctx: click.Context, heading: bool = True) -> list[str]:
    records = [p.get_help_record(ctx) for p in cmd.get_params(ctx)
               if isinstance(p, click.Option)]
    records = [r for r in records if r]
    if not records:
        return []
    lines = [".SH OPTIONS"] if heading else [".RS"]
    for flags, help_text in records:
        lines += [".TP", f"\\fB{_esc(flags)}\\fR", _esc(help_text)]
    return lines if heading else [*lines, ".RE"]


def _blocks(cmd: click.Command) -> list[str]:
    text = (cmd.help or "").strip()
    return [b.strip("\n") for b in text.replace("\r", "").split("\n\n") if b.strip()]


def _summary(cmd: click.Command) -> str:
    blocks = _blocks(cmd)
    return " ".join(blocks[0].split()).rstrip(".") if blocks else ""


def _description(cmd: click.Command) -> list[str]:
    """The docstring's paragraphs but the Examples block."""
    return [b for b in _blocks(cmd) if not _is_examples(b)]


def _is_examples(block: str) -> bool:
    return block.lstrip("\b\n ").startswith("Examples:")


def _examples(cmd: click.Command) -> list[str]:
    found = [b for b in _blocks(cmd) if _is_examples(b)]
    if not found:
        return []
    lines = [".SH EXAMPLES"]
    for block in found:
        body = block.lstrip("\b\n ").split("\n", 1)[1:]
        lines += [".nf", ".RS 4"]
        lines += [_esc(line.strip()) for line in "\n".join(body).splitlines()]
        lines += [".RE", ".fi"]
    return lines


def _paragraphs(blocks: list[str], first: str = ".PP") -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if lines or first:
            lines.append(first if not lines else ".PP")
        if block.startswith("\b"):  # click's "keep these lines as they are"
            lines += [".nf", *(_esc(x) for x in block[1:].strip("\n").splitlines()), ".fi"]
        else:
            lines.append(_esc(" ".join(block.split())))
    return lines


def _esc(text: str) -> str:
    """Roff-safe text: backslashes and hyphens escaped, no line starting a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


# ----- showing and installing ----------------------------------------------------------
def show(root: click.Group, words: list[str]) -> int:
    """`git data help [CMD]`: the page through man, else the help text."""
    ctx = _root_context(root)
    cmd: click.Command = root
    name = ""
    if words:
        found = root.get_command(ctx, words[0])
        if found is None or found.hidden:
            known = ", ".join(n for n, _ in _visible(root, ctx))
            raise click.UsageError(f"no command '{words[0]}' (commands: {known})")
        cmd, name = found, words[0]
    page = pages(root)["git-data.1" if not name else f"git-data-{name}.1"]
    man = shutil.which("man")
    if man:
        proc = subprocess.run([man, "-l", "-"], input=page.encode(), check=False)
        if proc.returncode == 0:
            return 0
    sub = click.Context(cmd, info_name=name, parent=ctx) if name else ctx
    click.echo(cmd.get_help(sub))
    return 0


def install(root: click.Group, folder: str | os.PathLike[str]) -> list[Path]:
    """Write every page into ``folder`` (made when missing); pages no longer made stay."""
    from ..safeio import write_text

    written = []
    for file_name, text in pages(root).items():
        path = Path(folder) / file_name
        write_text(path, text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    from .tree import cli

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m git_data.cli.manpages DIR (e.g. "
                         "<venv>/share/man/man1)\n")
        return 2
    install(cli, args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
