"""JSON pointers for router patches. apply_plan itself (the guarded patch, its re-reads and
its errors) is tested against the sandbox in tests/integration/test_patching_on_cluster.py."""

from __future__ import annotations

from rolloutd.traffic.patching import pointer


def test_pointer_escapes() -> None:
    assert pointer("metadata", "annotations", "a/b~c", 0) == "/metadata/annotations/a~1b~0c/0"
