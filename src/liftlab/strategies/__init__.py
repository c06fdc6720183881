"""The catalogue of remedies: name -> Strategy, each a pure function Recipe -> Recipe plus metadata.

`registry` holds the types and the functions (`register`, `get`, `list_strategies(category)`, parsing and
applying); `catalogue` holds the entries and is imported here, so every entry is registered whenever the
package is.

    >>> from liftlab.config import Recipe
    >>> apply_strategies(Recipe(), "flip,crop,size=64").data.size
    64
"""

from liftlab.strategies import catalogue
from liftlab.strategies.registry import (
    CATEGORIES,
    Setting,
    Strategy,
    apply_strategies,
    get,
    list_strategies,
    parse_strategy,
    register,
    split_list,
)

__all__ = [
    "CATEGORIES",
    "Setting",
    "Strategy",
    "apply_strategies",
    "catalogue",
    "get",
    "list_strategies",
    "parse_strategy",
    "register",
    "split_list",
]
