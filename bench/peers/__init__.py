"""Other controllers run next to rolloutd, for the migration tests and side-by-side benchmarks.

`argo`: Argo Rollouts' own controller, built from its Go module through the module proxy and
cached; its CRDs read from the downloaded module.
"""
