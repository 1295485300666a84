"""The opt-in pytest plugin: sandbox fixtures for rolloutd's tests and for router authors.

Not registered through `pytest11`; load it with `pytest_plugins = ["rolloutd_dev.testing.plugin"]`
in a top-level conftest.py.
"""

from rolloutd_dev.testing.fixtures import kube, namespace, sandbox

__all__ = ["kube", "namespace", "sandbox"]
