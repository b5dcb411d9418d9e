"""Data access, one module per collection."""
