"""The user-facing error type, importable from every floor without pulling anything else in."""


class LVCDError(ValueError):
    """A user-facing error: the message names the input and the fix."""
