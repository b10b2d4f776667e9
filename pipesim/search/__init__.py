"""Search for the fastest schedule under a memory limit.

``order`` builds and improves the per-device action order for a fixed layout and costs (the
table level scores candidates); the plan search and network-aware scoring sit above it.
"""

from pipesim.search.errors import SearchError
from pipesim.search.order import OrderResult, search_order

__all__ = ["OrderResult", "SearchError", "search_order"]
