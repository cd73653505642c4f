"""Device side: the software device emulator, the socket protocol, backends that talk to a device.

See docs/device-protocol.md. protocol (frames), server (the emulator process), backend
(EmulatorBackend, the client), virtq (guest memory and split rings), the emulated devices
(virtio14, draftv1; mcheck.device.devices maps a profile to its device), emulate
(`mcheck emulate`), spawn (the emulator as a subprocess). This package imports nothing
from mcheck.conformance, mcheck.explore, mcheck.replay or mcheck.symbolic.
"""
