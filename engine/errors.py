"""Typed errors the engine raises so the API can answer 422 instead of 500."""


class EngineError(ValueError):
    """Invalid settings, parameters or data given to the engine."""
