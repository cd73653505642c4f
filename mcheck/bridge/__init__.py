"""The vendor bridge kit (`kit.py`: copy it, implement `kit.Device`, call `kit.serve`) and an
example bridge built on it (`example.py`); docs/device-protocol.md, "Writing a bridge"."""
