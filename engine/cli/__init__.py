"""Command-line entry points, plots and reports around the engine's decision code."""
