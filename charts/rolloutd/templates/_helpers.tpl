{{/*
Names and labels shared by every template. Names are cut at 63 characters because Kubernetes
label values and DNS-1123 labels (Service names) stop there.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "rolloutd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: fullnameOverride, else <release>-<name>, or just <release>
when the release name already contains the chart name (so `helm install rolloutd` gives
"rolloutd", not "rolloutd-rolloutd").
*/}}
{{- define "rolloutd.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: name-version, with "+" (not allowed in labels) replaced. */}}
{{- define "rolloutd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: the immutable subset (a Deployment's selector cannot change after creation, so
nothing version-dependent may go here).
*/}}
{{- define "rolloutd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rolloutd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* Labels on every object the chart creates. */}}
{{- define "rolloutd.labels" -}}
helm.sh/chart: {{ include "rolloutd.chart" . }}
{{ include "rolloutd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rolloutd
{{- end }}

{{/* The ServiceAccount the controller runs as. */}}
{{- define "rolloutd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rolloutd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "rolloutd.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
