"""The Go text/template subset: what Argo's templates use renders as Go renders it; the rest fails
with an error naming the template."""

from __future__ import annotations

import json

import pytest

from rolloutd.notify import catalog
from rolloutd.notify.gotemplate import TemplateError, parse, render

ROLLOUT = {
    "metadata": {"name": "demo", "namespace": "ns"},
    "spec": {
        "replicas": 3,
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}]}},
        "template": {
            "spec": {
                "containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "b:2"}]
            }
        },
    },
    "status": {"currentStepIndex": 1, "updatedReplicas": 2},
}
DATA = {"rollout": ROLLOUT}


@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("{{.rollout.metadata.name}}", "demo"),
        ("{{ .rollout.missing }}", "<no value>"),
        ("{{add .rollout.status.currentStepIndex 1}}/{{len .rollout.spec.strategy.canary.steps}}",
         "2/3"),
        ("{{if .rollout.spec.strategy.blueGreen}}BG{{else if .rollout.spec.strategy.canary}}C"
         "{{else}}?{{end}}", "C"),
        ("{{range $i, $c := .rollout.spec.template.spec.containers}}{{if $i}},{{end}}"
         "{{$c.name}}={{$c.image}}{{end}}", "app=a:1,side=b:2"),
        ("{{range .rollout.nothing}}x{{else}}empty{{end}}", "empty"),
        ("{{with .rollout.status}}{{.updatedReplicas}}{{end}}", "2"),
        ("a  {{- 1 -}}  b", "a1b"),
        ("{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"),
        ('{{printf "%s has %d replicas" .rollout.metadata.name .rollout.spec.replicas}}',
         "demo has 3 replicas"),
        ("{{.rollout.metadata.name | upper | printf \"%q\"}}", '"DEMO"'),
        ("{{toJson .rollout.metadata}}", '{"name":"demo","namespace":"ns"}'),
        ('{{toJson "<&>"}}', '"\\u003c\\u0026\\u003e"'),
        ("{{ .rollout.nope | default \"none\" }}", "none"),
        ("{{ $n := .rollout.spec.replicas }}{{ $n = add $n 1 }}{{ $n }}", "4"),
        ("{{ and 1 0 }} {{ or 0 \"\" \"x\" }} {{ not false }}", "0 x true"),
        ("{{ eq .rollout.spec.replicas 1 2 3 }} {{ lt 1 2 }} {{ ne \"a\" \"b\" }}",
         "true true true"),
        ("{{ index .rollout.spec.template.spec.containers 1 \"image\" }}", "b:2"),
        ('{{ "}}" }}', "}}"),
        ("{{ `raw \\n` }}", "raw \\n"),
        ("{{ (index .rollout.spec.template.spec.containers 0).name }}", "app"),
        ("{{ .rollout.spec.strategy.canary.steps }}", "[map[setWeight:20] map[pause:map[]] "
         "map[setWeight:60]]"),
    ],
)  # fmt: skip
def test_renders_like_go(src: str, want: str) -> None:
    assert render("t", src, DATA) == want


@pytest.mark.parametrize(
    ("src", "error"),
    [
        ("{{ exec \"rm\" }}", 'template bad: function "exec" not defined'),
        ("{{ if .a }}x", "template bad: unexpected EOF: {{if}} without {{end}}"),
        ("{{ .a", "template bad: line 1: unclosed action"),
        ("x\n{{ \"abc }}", "template bad: line 2: unclosed action"),
        ("{{ end }}", "template bad: unexpected {{end}}"),
        ('{{ define "x" }}{{ end }}', "template bad: {{define}} is not supported"),
        ("{{ .rollout.metadata.name.first }}", "can't evaluate field first"),
        ("{{ .rollout.nope.deeper }}", "nil pointer evaluating .rollout.nope.deeper"),
        ("{{ len .rollout.nope }}", "error calling len"),
        ("{{ .rollout.metadata.name 1 }}", "can't give argument to non-function"),
        ("{{ $x }}", "undefined variable: $x"),
    ],
)  # fmt: skip
def test_errors_name_the_template(src: str, error: str) -> None:
    with pytest.raises(TemplateError) as info:
        render("bad", src, DATA)
    assert error in str(info.value)
    assert str(info.value).startswith("template bad")


def test_execution_is_bounded() -> None:
    loop = "{{range 100000}}{{range 100000}}x{{end}}{{end}}"
    with pytest.raises(TemplateError, match="too many steps"):
        parse("big", loop).render({}, max_steps=10_000)
    with pytest.raises(TemplateError, match="output longer than 100"):
        parse("wide", "{{range 1000}}xx{{end}}").render({}, max_output=100)


@pytest.mark.parametrize("name", sorted(catalog.builtin_templates()))
def test_builtin_templates_render_to_valid_slack_json(name: str) -> None:
    tpl = catalog.builtin_templates()[name]
    message = render(name, tpl["message"], DATA)
    assert "demo" in message and "<no value>" not in message
    assert render(name, tpl["email"]["subject"], DATA) == message
    attachments = json.loads(render(name, tpl["slack"]["attachments"], DATA))
    fields = {f["title"]: f["value"] for f in attachments[0]["fields"]}
    assert attachments[0]["title"] == "demo"
    assert fields["Strategy"] == "Canary"
    assert fields["app"] == "a:1" and fields["side"] == "b:2"


def test_step_completed_message_is_argos() -> None:
    tpl = catalog.builtin_templates()["rollout-step-completed"]
    assert render("m", tpl["message"], DATA) == "Rollout demo step number 2/3 has been completed."
