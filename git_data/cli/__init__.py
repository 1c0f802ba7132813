"""Command-line interface: click commands that parse arguments and call one function in
``git_data.commands`` each. No logic lives here; FatalError becomes one clean line here."""

from __future__ import annotations

import sys

import click

from ..errors import FatalError
from .main import cli


def main(argv: list[str] | None = None) -> int:
    try:
        code = cli.main(args=argv, prog_name="git data", standalone_mode=False)
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
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())
