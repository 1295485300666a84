"""The `rolloutd` pytest plugin: sandbox fixtures for rolloutd's tests and for router authors."""

from rolloutd.testing.fixtures import kube, namespace, sandbox

__all__ = ["kube", "namespace", "sandbox"]
