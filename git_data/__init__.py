"""git-data: large files as content-addressed pointers in plain git, bytes in an object store.

Data flows one way through the layers:

    cli  ->  commands / filter / hooks / runner  ->  cache / store / transfer  ->  fsspec

Nothing below ``cli`` parses arguments, and nothing below ``commands`` prints except
through :mod:`git_data.progress`.
"""

__version__ = "0.1.0"


def open(path, rev="HEAD", repo="."):  # noqa: A001  (the API mirrors the builtin)
    """A readable binary file with the bytes of ``path`` at ``rev`` (see git_data.api)."""
    from .api import open as _open

    return _open(path, rev, repo)


def ls(rev="HEAD", repo="."):
    """The data files in ``rev``: dicts with path, oid and size."""
    from .api import ls as _ls

    return _ls(rev, repo)
