"""The host side of `git data run`: what runs on the GPU host or Slurm node, not on the client.

Standard library only, started with ``python -S`` (tests/test_runner_host_imports.py walks
every import here). Besides this package it uses ``git_data/__init__.py`` (``__version__``),
``errors.py`` and ``safeio.py``; for a store that is not a local folder, ``hostfs.open_store``
imports ``git_data.store`` after :func:`sitepath.load` (fsspec, s3fs and xxhash come from the
host's site-packages or were shipped beside the agent). ``runner/ship.py`` on the client
ships exactly these modules and what they import (:func:`git_data.runner.ship.shipped_files`)
into ``<workdir>/agent/<version>-<hash>/git_data/``.

How data flows on the host::

    agent.py       probe: report the Python, the modules it lacks, the GPUs (gpus.py);
                   start: read the spec line and the `git archive` tar from stdin, unpack
                   into <workdir>/runs/<store-key>/<N>/code, start the supervisor under
                   setsid, stream logs back as frames (frames.py); tail: the same for a
                   running run
    supervisor.py  claim GPUs (gpus.py); data objects from the store into the host cache,
                   verified, then into the checkout (hostfs.py); the environment (envs.py);
                   run the command, upload logs, outputs and the record to runs/N/ in the
                   store; obey runs/N/stop
    paths.py       path rules shared with the client (run keys, aliases, checkout paths)
    sitepath.py    site-packages and shipped modules, loaded only when a store needs them
"""
