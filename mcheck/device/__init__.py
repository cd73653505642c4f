"""Device side: the software device emulator, the socket protocol, backends, conformance suites.

See docs/device-protocol.md. Sub-commands (mcheck.device.cli): emulate, gen-tests,
conform, migrate-demo; `run_backend_replay(args)` serves `mcheck replay --backend`.
"""
