"""git's long-running filter process (``filter.data.process = git-data filter-process``).

Data flow, one process for the whole git command::

    git  --pkt-line-->  FilterProcess.serve()
        clean:  content packets -> ObjectWriter (hash + tmp file) -> cache rename -> pointer
        smudge: pointer packets -> cache object (streamed, verified) -> content packets
                object not cached -> delayed and fetched in parallel by the Fetcher (when a
                store can supply it), else the pointer text is returned unchanged

stdout is git's channel: at start-up fd 1 is moved aside for the protocol and pointed at
stderr, so nothing else can ever write there.
"""
