"""Experiments: the metrics and params of runs, read from what training code already writes.

Data flows one way, client side, from the store (so it works from any clone, `--no-data`
ones included):

    runs/<id>/outputs/ in the store
      -> runmetrics.py  lists the outputs, picks the metric sources by name
                        (metrics.jsonl, metrics.csv, mlruns/ of MLflow's file store,
                        events.out.tfevents.* of TensorBoard) and streams each once
      -> sources.py     one parser per format, line by line, in bounded memory
      -> series.py      per metric: count, last, min, max and at most MAX_POINTS points
      -> runmetrics.py  one RunMetrics per run, cached in <cache>/experiments/ (for a run
                        that has ended the cache is final; a live run is read again)
      -> report.py (compare table, HTML with inline SVG), mlflow_sync.py (MLflow's own
         client writes a tracking store), tensorboard.py (event files into a local folder)

Inside a run the host points MLflow at ``<output>/mlruns`` (supervisor.py), and
``git_data.log`` (runlog.py) appends to ``<output>/metrics.jsonl``; both are ordinary
outputs, uploaded like any other.
"""
