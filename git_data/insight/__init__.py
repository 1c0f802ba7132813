"""Looking at data without a checkout: which versions of a file or folder there are, where
their bytes come from, and their statistics.

    source.py    path@rev -> pointer or plain blob; bytes from the cache, else streamed
                 from a store and verified (the Python API's engine too)
    versions.py  Insight: a PATH argument at a revision or in the work tree -> Target of
                 FileVersions -> bytes -> Profile (saved first, else computed by stats/)
    saved.py     profiles and schemas committed under .gitdata-stats/, and the local
                 statistics cache

The commands that print (`git data stats`, `show`, `schema`, `validate`, `sample`, `log`,
`diff`) are in commands/stats.py and commands/data_history.py; the profiling itself is the
stats/ package, which knows nothing of git.
"""
