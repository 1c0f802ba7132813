#!/bin/sh
# Install git-data's filter configuration and hook shims into the repository you are in.
# Same result as `git data install`: existing hooks are kept and chained, never overwritten.
set -e
if command -v git-data >/dev/null 2>&1; then
    exec git-data install "$@"
fi
exec python3 -m git_data install "$@"
