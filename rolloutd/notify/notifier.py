"""Sends the notifications the Rollout controller's Events cause, once each, in the background.

Flow: the Event recorder calls `observe` for every Event it records on a Rollout (a plain
call, it never waits). Per Rollout, in the order the Events came, the notifications are
planned (`triggers.plan_notifications`), claimed in the Rollout's ledger ConfigMap
(`ledger.Ledger.claim`: only keys nobody recorded before are sent) and handed to the sender of
their service. Each service has its own FIFO sender, so a receiver that is down delays only
its own messages; a failed send is retried with exponential backoff (RetryPolicy), then given
up with a `NotificationFailed` Warning Event on the Rollout. Reconciles never wait for any of
this: `observe` only appends to a bounded queue.

Only the leader claims and sends (`allowed` is checked before every ledger write and every
send); a new leader first sends what the ledgers still hold as pending (`on_leading`).
Configuration (`argo-rollouts-notification-configmap`, watched, and
`argo-rollouts-notification-secret`, read by name while the ConfigMap exists, both in the
controller's namespace) applies to the next Event; a key that does not
parse is logged, and a template, trigger or service that fails when used gives a
`NotificationError` Warning Event on the Rollout naming it, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from rolloutd.kube.client import ApiError, ClusterUnreachable, KubeClient
from rolloutd.kube.events import EventRecorder
from rolloutd.kube.informer import Informer, strip_managed_fields
from rolloutd.kube.resources import CONFIG_MAPS, SECRETS
from rolloutd.notify import config as nconfig
from rolloutd.notify.ledger import Ledger
from rolloutd.notify.services import SendError, send
from rolloutd.notify.triggers import Delivery, plan_notifications

JsonDict = dict[str, Any]
log = structlog.get_logger("rolloutd.notify")
OWN_REASONS = ("NotificationError", "NotificationFailed")
MAX_QUEUED = 1000
SECRET_PERIOD = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    first: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    attempts: int = 10

    def delay(self, attempt: int) -> float:
        return float(min(self.cap, self.first * self.factor ** (attempt - 1)))


@dataclass
class _Job:
    namespace: str
    rollout: str
    delivery: Delivery
    involved: JsonDict  # for Warning Events: enough of the Rollout to name it


class Notifier:
    def __init__(
        self,
        kube: KubeClient,
        *,
        config_namespace: str,
        watch_namespace: str | None,
        allowed: Callable[[], bool],
        events: EventRecorder,
        retry: RetryPolicy | None = None,
        config_map: str = nconfig.CONFIG_MAP,
        secret: str = nconfig.SECRET,
    ) -> None:
        self.kube = kube
        self.config_namespace = config_namespace
        self.watch_namespace = watch_namespace
        self.allowed = allowed
        self.events = events
        self.retry = retry or RetryPolicy()
        self.config_map_name = config_map
        self.secret_name = secret
        self.ledger = Ledger(kube, allowed)
        self._config_map: JsonDict | None = None
        self._secret: JsonDict | None = None
        self.config = nconfig.parse_config(None)
        self.secrets: dict[str, str] = {}
        self.ready = asyncio.Event()
        self._config_seen = asyncio.Event()  # the ConfigMap exists: (re)read the Secret
        self._config_changed = asyncio.Event()
        self._secret_read = asyncio.Event()
        # Set once what earlier leaders left pending is queued: new Events wait for it, so a
        # resent notification does not arrive after the ones that followed it.
        self.recovered = asyncio.Event()
        self._intake: dict[tuple[str, str], asyncio.Queue[tuple[JsonDict, str, str]]] = {}
        self._outbox: dict[str, asyncio.Queue[_Job]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._queued = 0
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0
        self.failed = 0

    # -- configuration ------------------------------------------------------------------------

    def _slim(self, name: str) -> Callable[[JsonDict], JsonDict]:
        def slim(obj: JsonDict) -> JsonDict:
            meta = obj.get("metadata") or {}
            if meta.get("name") == name:
                return strip_managed_fields(obj)
            keep = ("name", "namespace", "resourceVersion")
            return {"metadata": {k: meta[k] for k in keep if k in meta}}

        return slim

    def _on_config(self, kind: str, obj: JsonDict, old: JsonDict | None) -> None:
        if (obj.get("metadata") or {}).get("name") != self.config_map_name:
            return
        self._config_map = None if kind == "DELETED" else obj
        self._reload()
        if self._config_map is not None:
            self._config_seen.set()
            self._config_changed.set()

    def _reload(self) -> None:
        self.config = nconfig.parse_config(self._config_map, self._secret)
        self.secrets = nconfig.secret_values(self._secret)
        for error in self.config.errors:
            log.error(
                "notification configuration: key ignored",
                config_map=f"{self.config_namespace}/{self.config_map_name}",
                error=error,
            )
        log.info(
            "notification configuration loaded",
            services=sorted(self.config.services),
            errors=len(self.config.errors),
        )

    async def run(self) -> None:
        """Watch the configuration until cancelled; senders run as tasks of their own."""
        self._session = aiohttp.ClientSession()
        cms = Informer(
            self.kube,
            CONFIG_MAPS,
            namespace=self.config_namespace,
            transform=self._slim(self.config_map_name),
        )
        cms.add_handler(self._on_config)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(cms.run())
                tasks.create_task(self._when_synced(cms))
                tasks.create_task(self._read_secret())
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._session.close()

    async def _read_secret(self) -> None:
        """The Secret is read (by name) only while the ConfigMap exists, and again every
        SECRET_PERIOD seconds, so a controller without notifications never touches Secrets
        and a rotated token is picked up without a restart."""
        denied = False
        while True:
            await self._config_seen.wait()
            secret: JsonDict | None = None
            try:
                secret = await self.kube.get(
                    SECRETS, self.secret_name, namespace=self.config_namespace
                )
                denied = False
            except ApiError as exc:
                if not exc.not_found and not denied:
                    log.error(
                        "cannot read the notification Secret; $references stay unresolved",
                        secret=f"{self.config_namespace}/{self.secret_name}",
                        error=str(exc),
                    )
                    denied = True
            except ClusterUnreachable:
                secret = self._secret
            if (secret or {}).get("data") != (self._secret or {}).get("data"):
                self._secret = secret
                self._reload()
            self._secret_read.set()
            self._config_seen.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._config_changed.wait(), SECRET_PERIOD)
            self._config_changed.clear()
            if self._config_map is not None:
                self._config_seen.set()

    async def _when_synced(self, informer: Informer) -> None:
        await informer.synced.wait()
        if self._config_map is not None:
            await self._secret_read.wait()
        self.ready.set()

    async def on_leading(self) -> None:
        """This replica leads now: send what a previous leader claimed but did not confirm."""
        await self.ready.wait()
        if self._config_map is None:
            # Notifications are off: no service to send by, and no reason to list ConfigMaps
            # (the chart grants that right only with notifications.enabled).
            self.recovered.set()
            return
        try:
            pending = await self.ledger.pending(self.watch_namespace)
        except (ApiError, ClusterUnreachable, PermissionError) as exc:
            log.error("cannot read the notification ledgers", error=str(exc))
            pending = []
        finally:
            self.recovered.set()
        for namespace, rollout, delivery in pending:
            log.info("resending a claimed notification", key=delivery.key, rollout=rollout)
            involved = {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout",
                "metadata": {"namespace": namespace, "name": rollout},
            }
            self._enqueue(_Job(namespace, rollout, delivery, involved))

    # -- intake ---------------------------------------------------------------------------------

    def observe(self, involved: JsonDict, event_type: str, reason: str, message: str) -> None:
        """Called for every recorded Event; returns at once."""
        if involved.get("kind") != "Rollout" or reason in OWN_REASONS:
            return
        meta = involved.get("metadata") or {}
        if (
            not any(
                k.startswith("notifications.argoproj.io/") for k in (meta.get("annotations") or {})
            )
            and not self.config.subscriptions
        ):
            return  # nobody listens: the common case costs nothing
        key = (meta.get("namespace") or "", meta.get("name") or "")
        if self._queued >= MAX_QUEUED:
            log.error("notification queue full; event not notified", reason=reason, rollout=key)
            return
        queue = self._intake.get(key)
        if queue is None:
            queue = self._intake[key] = asyncio.Queue()
            self._spawn(self._intake_loop(key, queue))
        self._queued += 1
        queue.put_nowait((involved, reason, message))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _intake_loop(
        self, key: tuple[str, str], queue: asyncio.Queue[tuple[JsonDict, str, str]]
    ) -> None:
        # No await between the last `empty()` and the delete, so no item is stranded.
        try:
            await self.recovered.wait()
            while not queue.empty():
                obj, reason, message = queue.get_nowait()
                self._queued -= 1
                await self._take(obj, reason, message)
        finally:
            if self._intake.get(key) is queue:
                del self._intake[key]

    async def _take(self, obj: JsonDict, reason: str, message: str) -> None:
        meta = obj.get("metadata") or {}
        outcome = plan_notifications(self.config, obj, reason, message, secrets=self.secrets)
        for error in outcome.errors:
            log.warning("notification not sent", rollout=meta.get("name"), error=error)
            if self.allowed():
                self.events.record_soon(obj, "Warning", "NotificationError", error)
        if not outcome.deliveries:
            return
        claimed: list[Delivery] = []
        for attempt in range(1, 6):
            if not self.allowed():
                return
            try:
                claimed = await self.ledger.claim(obj, outcome.deliveries)
                break
            except PermissionError:
                return
            except (ApiError, ClusterUnreachable) as exc:
                log.warning("cannot record notifications; retrying", error=str(exc))
                await asyncio.sleep(self.retry.delay(attempt))
        else:
            log.error(
                "notifications not recorded; not sent", reason=reason, rollout=meta.get("name")
            )
            return
        for skipped in {d.key for d in outcome.deliveries} - {d.key for d in claimed}:
            log.info("notification already recorded; not sent again", key=skipped)
        slim = {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "metadata": {k: meta.get(k) for k in ("name", "namespace", "uid")},
        }
        for d in claimed:
            self._enqueue(_Job(meta.get("namespace") or "", meta.get("name") or "", d, slim))

    # -- sending --------------------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        service = job.delivery.service
        queue = self._outbox.get(service)
        if queue is None:
            queue = self._outbox[service] = asyncio.Queue()
            self._spawn(self._send_loop(service, queue))
        queue.put_nowait(job)

    async def _send_loop(self, service: str, queue: asyncio.Queue[_Job]) -> None:
        try:
            while not queue.empty():
                await self._deliver(queue.get_nowait())
        finally:
            if self._outbox.get(service) is queue:
                del self._outbox[service]

    async def _deliver(self, job: _Job) -> None:
        d = job.delivery
        error = ""
        for attempt in range(1, self.retry.attempts + 1):
            if not self.allowed():
                return  # the new leader sends it from the ledger
            service = self.config.services.get(d.service)
            if service is None:
                error = f"service {d.service!r} is no longer configured"
                break
            assert self._session is not None
            try:
                await send(self._session, service, d)
            except SendError as exc:
                error = str(exc)
                log.warning("notification send failed", key=d.key, attempt=attempt, error=error)
                if not exc.retryable:
                    break
                if attempt < self.retry.attempts:
                    await asyncio.sleep(self.retry.delay(attempt))
                continue
            self.sent += 1
            log.info(
                "notification sent",
                key=d.key,
                rollout=d.rollout,
                trigger=d.trigger,
                service=d.service,
                recipient=d.recipient,
            )
            await self._finish(job, "sent")
            return
        self.failed += 1
        message = f"notification {d.describe()} ({d.template}) not sent: {error}"
        log.error("notification given up", key=d.key, error=error)
        if self.allowed():
            self.events.record_soon(job.involved, "Warning", "NotificationFailed", message)
        await self._finish(job, "failed", error)

    async def _finish(self, job: _Job, state: str, error: str = "") -> None:
        for attempt in range(1, 6):
            try:
                await self.ledger.finish(job.namespace, job.rollout, job.delivery.key, state, error)
                return
            except PermissionError:
                return
            except (ApiError, ClusterUnreachable) as exc:
                log.warning("cannot mark notification done; retrying", error=str(exc))
                await asyncio.sleep(self.retry.delay(attempt))
        log.error("notification left pending in the ledger", key=job.delivery.key)
