"""The one place pipesim's version is written (pyproject reads it; outputs record it)."""

__version__ = "0.1.0"
