"""Dataset statistics, schemas, samples and views, computed from byte streams.

How data flows through this package::

    stream (cache file, remote store stream, path)
      -> files.profile(): sniff.peek() + sniff.detect()      format from name, magic, content
         -> tabular (CSV/TSV/JSONL)  rows in bounded batches  -> columns.ColumnAccumulator
            parquet (pyarrow)        record batches; structs flattened, lists as lengths;
                                     numbers via numpy   -> columns.ColumnAccumulator
            images                   header bytes only        -> width / height
         ColumnAccumulator: type inference + sketches (Welford moments, reservoir quantiles,
         KMV distinct count, exact then Misra-Gries top values, self-extending histogram)
      -> model.Profile              small, stable JSON (to_json / from_json)
         -> render_text / render_html     terminal table; self-contained HTML page
         -> schema.infer_schema / validate      saved expectations and anomalies
         -> diff.diff_profiles                  what changed between two versions

Everything is one streaming pass in bounded memory, whatever the file size. ``sample``
draws uniform row samples (reservoir, seeded) and deterministic file samples by oid.
Nothing here touches git, the cache or a store: callers hand in streams.
"""

from git_data.stats.columns import MISSING_TOKENS, TextOptions
from git_data.stats.diff import TableDiff, diff_profiles
from git_data.stats.files import profile
from git_data.stats.images import profile_folder
from git_data.stats.model import ColumnProfile, Histogram, Profile, StatsError
from git_data.stats.render_html import render_html
from git_data.stats.render_text import render_text
from git_data.stats.sample import choose_sample, sample_rows, write_sample
from git_data.stats.schema import Anomaly, ColumnSchema, Schema, infer_schema, validate

__all__ = [
    "MISSING_TOKENS", "TextOptions",
    "Anomaly", "ColumnProfile", "ColumnSchema", "Histogram", "Profile", "Schema", "StatsError",
    "TableDiff",
    "choose_sample", "diff_profiles", "infer_schema", "profile", "profile_folder",
    "render_html", "render_text", "sample_rows", "validate", "write_sample",
]
