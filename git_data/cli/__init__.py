"""Command-line interface: click commands that parse arguments and call one function in
``git_data.commands`` each. No logic lives here; FatalError becomes one clean line here,
and so do the faults of the machine rather than of the input (a full disk or quota, a
read-only file system, a permission denied, out of memory): ``fault_message`` names what
failed and what to do, the exit is non-zero, and the command, run again, finishes the work
(every file is written under a temporary name and renamed into place, so nothing partial
is left to trip over).

The three entry points git itself starts (``filter-process``, ``hook NAME ...``, ``textconv
PATH``) take fixed arguments and run on every add, checkout and push, so they are
dispatched without loading click and the command tree (40 ms of imports)."""

from __future__ import annotations

import sys

from ..errors import FatalError, fault_message, is_fault

FAULT_CODE = 1


def _fault_line(args: list[str], exc: BaseException) -> str:
    """``git data CMD failed in DIR: what; what to do, then how to finish``."""
    import os

    words = [a for a in args if not a.startswith("-")]
    command = " ".join(["git data", *words[:1]])
    again = ("run `git data pull` inside the new clone to finish" if words[:1] == ["clone"]
             else "run the same command again")
    return f"git-data: {command} failed in {os.getcwd()}: {fault_message(exc, again)}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    plumbing = _plumbing(args)
    if plumbing is not None:
        try:
            return plumbing()
        except FatalError as exc:
            sys.stderr.write(f"git-data: {exc}\n")
            return exc.code
        except (OSError, MemoryError) as exc:
            if not is_fault(exc):
                raise
            sys.stderr.write(_fault_line(args, exc) + "\n")
            return FAULT_CODE
        except KeyboardInterrupt:
            sys.stderr.write("git-data: interrupted; run the same command again to finish\n")
            return 130
    return _click_main(args)


def _plumbing(args: list[str]):  # type: ignore[no-untyped-def]
    """The function for a command git starts, or None for anything a person types."""
    if args == ["filter-process"]:
        from ..commands.filter_process import filter_process

        return filter_process
    if len(args) >= 2 and args[0] == "hook" and not args[1].startswith("-"):
        from ..hooks import run_hook

        return lambda: run_hook(args[1], args[2:])
    if len(args) == 2 and args[0] == "textconv" and not args[1].startswith("-"):
        from ..commands.textconv import textconv

        return lambda: textconv(args[1])
    return None


def _click_main(args: list[str]) -> int:
    import click

    from .tree import cli

    try:
        code = cli.main(args=args, prog_name="git data", standalone_mode=False)
    except FatalError as exc:
        click.echo(f"git-data: {exc}", err=True)
        return exc.code
    except click.exceptions.Abort:
        click.echo("git-data: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("git-data: interrupted; run the same command again to finish", err=True)
        return 130
    except BrokenPipeError:
        return 141
    except (OSError, MemoryError) as exc:
        if not is_fault(exc):
            raise
        click.echo(_fault_line(args, exc), err=True)
        return FAULT_CODE
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
