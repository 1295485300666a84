"""The metric provider contract: what a provider is, and the narrow context it is given.

A provider is a class registered under the entry-point group `rolloutd.metric_providers`; the
entry point's name is the key a metric uses under `provider` (``prometheus``, ``web``,
``job``, or a third party's own key, also reachable as Argo's ``plugin: {"org/name": ...}``).
The controller makes one instance per process, with the provider's controller-wide settings,
and calls it once per measurement with a `MeasureContext`: the metric (arguments already
substituted), the provider's own block of it, the AnalysisRun's identity, the time, and a
`ClusterAccess` for providers that create objects (the Job provider).

A provider returns a `Reading`. Synchronous providers (Prometheus, web) return the `result`
the conditions are evaluated against and the `value` string shown in the status, and leave
`phase` unset: the controller evaluates ``successCondition``/``failureCondition``. A provider
that decides by itself (a Job) sets `phase`; one that is still waiting returns phase
``Running`` with `resume_at`, and is called again through `resume` (or `terminate` when the run
is being stopped). Raising `ProviderError` (or any exception) makes the measurement Error
with the exception's text as its message; a provider never crashes the controller.

`API_VERSION` is the version of this contract; the registry refuses a provider written for
another version with a message that says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

API_VERSION = 1

JsonDict = dict[str, Any]


class ProviderError(Exception):
    """The measurement failed (Error); the message is shown as the measurement's message."""


class ClusterError(Exception):
    """An API request failed; `status` is the HTTP status (0 when the server was unreachable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class AlreadyExists(ClusterError):
    """`create` found an object of that name already there."""


@runtime_checkable
class ClusterAccess(Protocol):
    """The few API calls a provider may make, against the AnalysisRun's cluster."""

    async def create(self, api_version: str, kind: str, namespace: str, body: JsonDict) -> JsonDict:
        """Create the object; raises `AlreadyExists` or `ClusterError`."""
        ...

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> JsonDict | None:
        """The object (from the controller's cache when it watches the kind), or None."""
        ...

    async def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str
    ) -> list[JsonDict]:
        """Objects matching a label selector."""
        ...

    async def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        *,
        propagation: str = "Background",
    ) -> None:
        """Delete the object; one that is already gone is not an error."""
        ...


@dataclass(frozen=True)
class MeasureContext:
    """Everything a provider gets for one measurement."""

    namespace: str
    """The AnalysisRun's namespace (Secrets and Jobs live there)."""
    run_name: str
    run_uid: str
    metric_name: str
    metric: Mapping[str, Any]
    """The whole metric, arguments substituted (camelCase JSON)."""
    config: Mapping[str, Any]
    """The provider's own block, e.g. the value of `provider.prometheus`."""
    now: dt.datetime
    measurement_number: int
    """1 for the metric's first measurement, then 2, 3, ... (Argo's count + error + 1)."""
    cluster: ClusterAccess
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The provider's controller-wide settings."""


@dataclass(frozen=True)
class Reading:
    """What one provider call measured."""

    result: Any = None
    """The value conditions see as `result` (synchronous providers)."""
    value: str = ""
    """The measurement's `value` as shown in the status."""
    phase: str | None = None
    """Set by providers that judge for themselves; None lets the conditions decide."""
    message: str | None = None
    metadata: Mapping[str, str] | None = None
    """The measurement's metadata (e.g. `job-name`)."""
    resume_at: dt.datetime | None = None
    """With phase Running: when to call `resume`."""


@runtime_checkable
class MetricProvider(Protocol):
    """A metric provider; see the module docstring. `BaseProvider` implements the optional
    methods as no-ops."""

    API_VERSION: ClassVar[int]
    TYPE: ClassVar[str]
    """The name used in metrics and logs (Argo's `Type()`: `Prometheus`, `Web`, `Job`)."""

    async def run(self, ctx: MeasureContext) -> Reading:
        """Take a measurement (or start one and return phase Running)."""
        ...

    async def resume(self, ctx: MeasureContext, measurement: Mapping[str, Any]) -> Reading:
        """Poll an in-flight measurement."""
        ...

    async def terminate(self, ctx: MeasureContext, measurement: Mapping[str, Any]) -> Reading:
        """Stop an in-flight measurement because the run is ending."""
        ...

    async def garbage_collect(self, ctx: MeasureContext, limit: int) -> None:
        """Clean up what measurements left behind, keeping the newest `limit`."""
        ...

    def metric_metadata(self, ctx: MeasureContext) -> Mapping[str, str]:
        """Metric-level metadata stored with the metric's result (e.g. the resolved query)."""
        ...


class BaseProvider:
    """Defaults for a synchronous provider: nothing to resume, terminate or clean up."""

    API_VERSION: ClassVar[int] = API_VERSION
    TYPE: ClassVar[str] = "Unknown Provider"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.settings: Mapping[str, Any] = dict(settings or {})

    async def run(self, ctx: MeasureContext) -> Reading:
        raise NotImplementedError

    async def resume(self, ctx: MeasureContext, measurement: Mapping[str, Any]) -> Reading:
        # A synchronous provider never leaves a measurement in flight; measure again.
        return await self.run(ctx)

    async def terminate(self, ctx: MeasureContext, measurement: Mapping[str, Any]) -> Reading:
        return Reading(phase="Successful", message="Metric Terminated")

    async def garbage_collect(self, ctx: MeasureContext, limit: int) -> None:
        return None

    def metric_metadata(self, ctx: MeasureContext) -> Mapping[str, str]:
        return {}
