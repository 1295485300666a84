"""Metric providers: the contract (`contract`), the registry of installed providers
(`registry`), and the built-in providers `prometheus`, `web` and `job`, each published as a
`rolloutd.metric_providers` entry point by rolloutd's own distribution."""

from rolloutd.analysis.providers.contract import (
    API_VERSION,
    AlreadyExists,
    BaseProvider,
    ClusterAccess,
    ClusterError,
    MeasureContext,
    MetricProvider,
    ProviderError,
    Reading,
)

__all__ = [
    "API_VERSION",
    "AlreadyExists",
    "BaseProvider",
    "ClusterAccess",
    "ClusterError",
    "MeasureContext",
    "MetricProvider",
    "ProviderError",
    "Reading",
]
