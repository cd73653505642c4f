"""Engine dispatch: `mcheck check --engine explicit|bmc|prove|all`.

This package sits above `mcheck.explore` (explicit search) and `mcheck.symbolic` (Z3) and
is the only place that knows both; neither engine package imports it or the other's
dispatch.
"""
