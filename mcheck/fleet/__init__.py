"""Fleet-scale post-mortem: replay many captures on a Dask cluster and triage the results.

`mcheck replay-batch SOURCES...` (cli.py) expands the sources into captures (sources.py),
judges each one on a worker with the single-capture replayer (judge.py), writes one row
per capture as it comes back (table.py) and renders the fleet report and CI summaries
(report.py, ci.py). `mcheck fleet-gen` (gen.py) makes a fleet with known ground truth.
See docs/fleet.md.
"""
