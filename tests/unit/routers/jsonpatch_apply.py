"""A small RFC 6902 applier for the unit tests: applies router patches to plain dicts the way
the API server does (add/replace/remove/test), so tests check outcomes, not op lists."""

from __future__ import annotations

import copy
from typing import Any


def _tokens(path: str) -> list[str]:
    assert path.startswith("/"), path
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for t in tokens[:-1]:
        node = node[int(t)] if isinstance(node, list) else node[t]
    return node


def apply(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """A patched deep copy of `doc`; raises like the server would on a bad path."""
    doc = copy.deepcopy(doc)
    for op in ops:
        tokens = _tokens(op["path"])
        parent, last = _parent(doc, tokens), tokens[-1]
        kind = op["op"]
        if kind == "test":
            here = parent[int(last)] if isinstance(parent, list) else parent[last]
            assert here == op["value"], f"test failed at {op['path']}"
        elif kind == "add":
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                assert 0 <= index <= len(parent), op
                parent.insert(index, copy.deepcopy(op["value"]))
            else:
                parent[last] = copy.deepcopy(op["value"])
        elif kind == "replace":
            if isinstance(parent, list):
                assert 0 <= int(last) < len(parent), op
                parent[int(last)] = copy.deepcopy(op["value"])
            else:
                assert last in parent, f"replace of a missing member {op['path']}"
                parent[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                del parent[last]
        else:
            raise AssertionError(f"unexpected op {kind}")
    return doc
