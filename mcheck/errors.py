"""Error types that the CLI turns into one line and exit code 2.

Anything raised as an `InputError` is the user's input (a file, a parameter, a trace
event) being wrong; `ModelDefinitionError` is a model that is written wrong. Both carry a
message that already names the place (file, line, event index or parameter).
"""


class McheckError(Exception):
    """Base class of every error mcheck reports to a user without a traceback."""


class InputError(McheckError):
    """Bad user input: unknown model or parameter, unreadable file, malformed trace."""


class ModelDefinitionError(McheckError):
    """A model is written wrong; the message says what to write instead."""


class ModelRuntimeError(McheckError):
    """A model failed while being executed (a property raised, a value left its range)."""
