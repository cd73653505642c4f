"""mcheck: a model checker and trace replayer for device live-migration protocols."""

__version__ = "0.1.0"
