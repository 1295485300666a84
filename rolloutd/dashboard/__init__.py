"""The web dashboard: Argo Rollouts' dashboard HTTP API and a small page, fed by watches.

`infojson` turns what `rolloutd.cli.info` computes for `get rollout` into Argo's JSON shapes
(pure); `views` keeps list+watch caches per namespace and wakes streams on change; `auth`
is the in-cluster mode's TokenReview/SubjectAccessReview; `app` is the aiohttp application;
`command` is `rolloutd dashboard` / `kubectl argo rollouts dashboard`.
"""
