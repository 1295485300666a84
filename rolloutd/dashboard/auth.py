"""In-cluster mode: who is calling (TokenReview), and may they (SubjectAccessReview).

Argo's dashboard has neither: every caller acts with the server's own rights. Here each
request carries the user's bearer token; the API server says whose it is, and every read and
action is checked as that user on the object it touches. Writes are then sent with the user's
own token, so the server itself needs only read rights plus the right to create reviews,
and the API server checks the write a second time.

Answers are cached for a few seconds per token (and per question), so a page that opens a
stream and a few requests costs one review each, not one per request.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rolloutd.kube.client import KubeClient
from rolloutd.kube.resources import Resource

JsonDict = dict[str, Any]

TOKEN_REVIEWS = Resource("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False)
SUBJECT_ACCESS_REVIEWS = Resource(
    "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False
)
CACHE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated identity, as the TokenReview named it."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Access:
    """One question for a SubjectAccessReview."""

    verb: str
    namespace: str
    name: str = ""
    resource: str = "rollouts"
    group: str = "argoproj.io"
    subresource: str = ""


class Reviewer:
    """TokenReviews and SubjectAccessReviews through the server's own client, cached."""

    def __init__(self, kube: KubeClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.clock = clock
        self._users: dict[str, tuple[float, User | None]] = {}
        self._answers: dict[tuple[str, Access], tuple[float, bool]] = {}

    def _fresh(self, stamp: float) -> bool:
        return self.clock() - stamp < CACHE_SECONDS

    async def authenticate(self, token: str) -> User | None:
        """The user the token belongs to, or None when the API server does not accept it."""
        key = hashlib.sha256(token.encode()).hexdigest()
        hit = self._users.get(key)
        if hit is not None and self._fresh(hit[0]):
            return hit[1]
        review = await self.kube.create(
            TOKEN_REVIEWS,
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            },
        )
        st = review.get("status") or {}
        user: User | None = None
        if st.get("authenticated"):
            raw = st.get("user") or {}
            extra = raw.get("extra") or {}
            user = User(
                username=str(raw.get("username", "")),
                uid=str(raw.get("uid", "")),
                groups=tuple(str(g) for g in raw.get("groups") or []),
                extra=tuple(sorted((str(k), tuple(v)) for k, v in extra.items())),
                token=token,
            )
        if len(self._users) > 1000:
            self._users.clear()
        self._users[key] = (self.clock(), user)
        return user

    async def allowed(self, user: User, access: Access) -> bool:
        key = (user.username + "\0" + user.uid, access)
        hit = self._answers.get(key)
        if hit is not None and self._fresh(hit[0]):
            return hit[1]
        attributes: JsonDict = {
            "namespace": access.namespace,
            "verb": access.verb,
            "group": access.group,
            "resource": access.resource,
        }
        if access.name:
            attributes["name"] = access.name
        if access.subresource:
            attributes["subresource"] = access.subresource
        spec: JsonDict = {
            "user": user.username,
            "groups": list(user.groups),
            "resourceAttributes": attributes,
        }
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        review = await self.kube.create(
            SUBJECT_ACCESS_REVIEWS,
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": spec,
            },
        )
        answer = bool((review.get("status") or {}).get("allowed"))
        if len(self._answers) > 10000:
            self._answers.clear()
        self._answers[key] = (self.clock(), answer)
        return answer
