"""The one error type of the search: a bad request, said in one line that names the fix."""

from __future__ import annotations


class SearchError(ValueError):
    """Raised for a search that cannot run: an infeasible memory limit, a layout that cannot
    fit, a zero budget. The message is one line naming the key, the value and what is valid."""
