"""Export a loaded model to other checkers' languages; today Promela, for SPIN.

`to_promela(model)` translates; `run_spin(export)` compiles and runs SPIN on it and reads
back the stored-state count and the violated properties (docs/spin.md).
"""

from mcheck.export.promela import PromelaExport, to_promela, write_promela
from mcheck.export.spin import SpinResult, run_spin, spin_missing

__all__ = ["PromelaExport", "SpinResult", "run_spin", "spin_missing", "to_promela", "write_promela"]
