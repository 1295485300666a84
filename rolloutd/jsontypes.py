"""The one spelling of "a JSON object as the API server sends it", for every layer of rolloutd.

The controller speaks to the API server in plain dicts (decoded JSON), so most signatures take
or return one; this alias keeps that one name (and one definition) across the code base.
"""

from __future__ import annotations

from typing import Any, TypeAlias

JsonDict: TypeAlias = dict[str, Any]
"""A decoded JSON object: an API object, a patch, a status block."""

__all__ = ["JsonDict"]
