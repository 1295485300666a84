"""Generates rolloutd's CustomResourceDefinitions from the models (one source of truth).

pydantic describes each model as JSON Schema; Kubernetes wants a *structural* OpenAPI v3
schema: no `$ref`, no `null` branches, int-or-string and free-form objects marked with their
`x-kubernetes-*` extensions, and no defaults (the controller applies Argo's defaults itself, so
a stored object says only what its author wrote). `python -m rolloutd.model.crd` rewrites
`config/crd/`; a unit test fails when the committed files differ from what the models produce.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from rolloutd.model.analysis import AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate
from rolloutd.model.base import Model
from rolloutd.model.experiment import Experiment
from rolloutd.model.rollout import Rollout

_DROP = {"title", "default", "description", "examples"}


def structural_schema(model: type[Model]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    defs = schema.pop("$defs", {})
    converted: dict[str, Any] = _convert(schema, defs)
    return converted


def _convert(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_convert(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs)
    if node.get("x-kubernetes-int-or-string"):
        return {"x-kubernetes-int-or-string": True}
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(branches) == 1:
            return _convert({**branches[0], **rest}, defs)
        return _convert({**rest, "anyOf": branches}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _convert(prop, defs) for name, prop in value.items()}
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif value is not False:
                out[key] = _convert(value, defs)
        else:
            out[key] = _convert(value, defs)
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def rollout_crd() -> dict[str, Any]:
    schema = structural_schema(Rollout)
    props = schema["properties"]
    props["metadata"] = {"type": "object"}
    # Keep status fields a newer Argo (or blue-green) writes that these models do not name.
    props["status"]["x-kubernetes-preserve-unknown-fields"] = True
    schema.pop("required", None)
    schema["required"] = ["spec"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "rollouts.argoproj.io",
            "labels": {"app.kubernetes.io/part-of": "rolloutd"},
        },
        "spec": {
            "group": "argoproj.io",
            "names": {
                "kind": "Rollout",
                "listKind": "RolloutList",
                "plural": "rollouts",
                "singular": "rollout",
                "shortNames": ["ro"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": [
                        _column("Desired", "integer", ".spec.replicas"),
                        _column("Current", "integer", ".status.replicas"),
                        _column("Up-to-date", "integer", ".status.updatedReplicas"),
                        _column("Available", "integer", ".status.availableReplicas"),
                        _column("Age", "date", ".metadata.creationTimestamp"),
                    ],
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.HPAReplicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                }
            ],
        },
    }


def _column(name: str, type_: str, path: str) -> dict[str, str]:
    return {"name": name, "type": type_, "jsonPath": path}


def analysis_crd(
    model: type[Model],
    *,
    kind: str,
    plural: str,
    short_name: str,
    namespaced: bool = True,
    columns: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """An AnalysisTemplate, ClusterAnalysisTemplate or AnalysisRun CRD.

    AnalysisRuns get a status subresource (the controller patches `/status`, falling back to
    the object itself under Argo's own CRDs, which have none) and keep status fields a newer
    Argo writes that these models do not name.
    """
    schema = structural_schema(model)
    props = schema["properties"]
    props["metadata"] = {"type": "object"}
    if "status" in props:
        props["status"]["x-kubernetes-preserve-unknown-fields"] = True
    schema.pop("required", None)
    schema["required"] = ["spec"]
    version: dict[str, Any] = {"name": "v1alpha1", "served": True, "storage": True}
    if columns:
        version["additionalPrinterColumns"] = columns
    version["schema"] = {"openAPIV3Schema": schema}
    version["subresources"] = {"status": {}} if "status" in props else {}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.argoproj.io",
            "labels": {"app.kubernetes.io/part-of": "rolloutd"},
        },
        "spec": {
            "group": "argoproj.io",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short_name],
            },
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [version],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD, for everything rolloutd defines."""
    age = _column("Age", "date", ".metadata.creationTimestamp")
    return {
        "rollouts.argoproj.io.yaml": rollout_crd(),
        "analysistemplates.argoproj.io.yaml": analysis_crd(
            AnalysisTemplate,
            kind="AnalysisTemplate",
            plural="analysistemplates",
            short_name="at",
            columns=[age],
        ),
        "clusteranalysistemplates.argoproj.io.yaml": analysis_crd(
            ClusterAnalysisTemplate,
            kind="ClusterAnalysisTemplate",
            plural="clusteranalysistemplates",
            short_name="cat",
            namespaced=False,
            columns=[age],
        ),
        "analysisruns.argoproj.io.yaml": analysis_crd(
            AnalysisRun,
            kind="AnalysisRun",
            plural="analysisruns",
            short_name="ar",
            columns=[_column("Status", "string", ".status.phase"), age],
        ),
        "experiments.argoproj.io.yaml": analysis_crd(
            Experiment,
            kind="Experiment",
            plural="experiments",
            short_name="exp",
            columns=[_column("Status", "string", ".status.phase"), age],
        ),
    }


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(crd: dict[str, Any]) -> str:
    header = "# Generated by `python -m rolloutd.model.crd` from rolloutd/model; do not edit.\n"
    return header + yaml.dump(crd, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / "config" / "crd"
    out.mkdir(parents=True, exist_ok=True)
    for name, crd in all_crds().items():
        (out / name).write_text(render(crd))
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
