"""Conformance side: suites derived from a model, run against a device and judged by the model.

gen (gen-tests), conform (the runner command), runner/driven/autonomous/plan/judging
(running and judging one test), killmatrix, migrate (migrate-demo), the model adapters
(a model names its adapter module: Model.conformance_adapter), modelbackend (the model as
an in-process device; open_backend) and replay_backend (`mcheck replay --backend`).
Depends on mcheck.device (emulator, protocol, backends); mcheck.device never imports this
package.
"""
