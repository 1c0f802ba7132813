"""git-data: large files as content-addressed pointers in plain git, bytes in an object store.

Data flows one way through the layers:

    cli  ->  commands / filter / hooks / runner  ->  cache / store / transfer  ->  fsspec

Nothing below ``cli`` parses arguments, and nothing below ``commands`` prints except
through :mod:`git_data.progress`.
"""

__version__ = "0.1.0"
