"""Test helpers for rolloutd and for authors of third-party traffic routers."""
