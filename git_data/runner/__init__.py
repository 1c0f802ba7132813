"""`git data run`: a command on a host, from the exact commit, with its data, recorded in the store.

How a run flows (client = the machine where `git data run` is typed; host = where it runs,
``local`` or an SSH host; user guide: docs/runner.md)::

    client  launch.py    refuse a dirty tree (or snapshot it as refs/data/runs/<id>); pick the
                         commit's data pointers (--data)
            transport    open one SSH connection (ControlMaster; login problems end here), or
                         a local subprocess for `local`
            ship.py      a host not yet prepared by this client (or --gpus): `agent probe`,
                         and ship the host side (host/ and the git_data modules it imports;
                         modules the host lacks) to <workdir>/agent/<version>-<hash>; later
                         runs skip this
            launch.py    give the store any data object it lacks
            records.py   claim run id N: create runs/N/run.json in the store exclusively
            launch.py    stream the spec and `git archive <commit>` into `agent start` (if
                         the host lost the agent, prepare it and start again)
    host    host/agent   unpack into <workdir>/runs/<store-key>/<N>/code, start the
                         supervisor under setsid (it outlives the client), tail the logs
            supervisor   claim GPUs (gpus.py); fetch data into the host cache, verified, once
                         per host, and hard-link it into the checkout (hostfs.py); mounts;
                         build or reuse the environment by the hash of its files (envs.py);
                         run COMMAND in its own process group, logs to files; a heartbeat
                         in runs/N/heartbeat.json (heartbeat.py); logs and append-only
                         outputs in parts, settled outputs whole, while it runs (uploader.py,
                         parts.py), all of it at the end; GPU samples and the record; obey
                         runs/N/stop
    client  follow.py    print the framed log stream (frames.py) live and exit with the run's
                         exit code; `git data logs N --follow` reads the logs back from the
                         store instead, from any clone

The client side is this package (launch, transport, ship, records, follow, hosts); it may
use all of git_data. The host side is :mod:`git_data.runner.host` (agent, supervisor, hostfs,
envs, gpus, frames, paths, sitepath, liveness, heartbeat, uploader, parts): standard library
only, started with ``python -S``, plus git_data's errors and safeio; site-packages (or the
modules shipped beside the agent) are loaded only for xxhash (verifying xxh128 objects) and,
through ``git_data.store``, fsspec (stores that are not a local directory). The client
imports frames, paths and parts from the host side (the framing, the path rules and the
parts format are shared); the host side never imports the client's.
"""
