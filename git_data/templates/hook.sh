#!/bin/sh
# git-data hook shim v1 (@HOOK@). Written by `git data install`; `git data uninstall` removes it.
# A hook that was here before is kept as @HOOK@.pre-git-data and run by git-data first.
command -v git-data >/dev/null 2>&1 || {
    echo >&2 "git-data: this repository's @HOOK@ hook needs git-data on PATH; install it (pip install git-data) or run 'git data uninstall'"
    exit 2
}
exec git-data hook @HOOK@ "$@"
