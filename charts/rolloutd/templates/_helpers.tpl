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

{{/* The image reference: [registry/]repository:tag, the tag defaulting to appVersion. */}}
{{- define "rolloutd.image" -}}
{{- $image := .Values.controller.image }}
{{- $repository := $image.repository }}
{{- with $image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- printf "%s:%s" $repository ($image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
Refuses values keys of chart 0.1, which moved under `controller.*` (argo-helm's layout): a key
that is silently ignored would leave an upgraded release running with defaults. The message
names the old key and its new place; the README has the whole table.
*/}}
{{- define "rolloutd.movedKeys" -}}
{{- $moved := dict
  "image" "controller.image"
  "replicas" "controller.replicas"
  "leaderElection" "controller.leaderElection"
  "logging" "controller.logging"
  "extraArgs" "controller.extraArgs"
  "extraEnv" "controller.extraEnv"
  "ports" "controller.containerPorts (health -> healthz, metrics -> metrics)"
  "config" "controller.config"
  "metrics" "controller.metrics"
  "serviceMonitor" "controller.metrics.serviceMonitor (labels -> additionalLabels)"
  "pdb" "controller.pdb"
  "resources" "controller.resources"
  "podAnnotations" "controller.podAnnotations"
  "podLabels" "controller.podLabels"
  "priorityClassName" "controller.priorityClassName"
  "nodeSelector" "controller.nodeSelector"
  "tolerations" "controller.tolerations"
  "affinity" "controller.affinity" }}
{{- range $old, $new := $moved }}
{{- if hasKey $.Values $old }}
{{- fail (printf "values key %q moved to %s (see the chart README, \"Values moved in 0.2\")" $old $new) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Every rule the controller needs on the Rollouts' namespaces: in a ClusterRole for a cluster
install, in the release namespace's Role for a namespaced one (then without the cluster-scoped
ClusterAnalysisTemplates, which a Role cannot grant and the namespaced daemon does not read).
Least privilege: each rule is something the controller does, and nothing else. No Secrets
(unless analysis.secretArgs), no wildcards; router rules only for the routers switched on.
*/}}
{{- define "rolloutd.controllerRules" -}}
# Rollouts: watched into the cache; the object itself is patched for the controller's own
# annotations (e.g. the revision), status and scale go through their subresources.
- apiGroups: [argoproj.io]
  resources: [rollouts]
  verbs: [get, list, watch, update, patch]
- apiGroups: [argoproj.io]
  resources: [rollouts/status, rollouts/scale]
  verbs: [get, update, patch]
# Lets the controller set ownerReferences with blockOwnerDeletion on ReplicaSets it owns, which
# the API server allows only to whoever may update the owner's finalizers.
- apiGroups: [argoproj.io]
  resources: [rollouts/finalizers]
  verbs: [update]
# AnalysisRuns are created and garbage-collected by the controller for analysis steps.
- apiGroups: [argoproj.io]
  resources: [analysisruns]
  verbs: [get, list, watch, create, update, patch, delete]
# AnalysisRun status goes through its subresource; Jobs of job metrics are owned by the run
# with blockOwnerDeletion, which needs the owner's finalizers.
- apiGroups: [argoproj.io]
  resources: [analysisruns/status]
  verbs: [get, update, patch]
- apiGroups: [argoproj.io]
  resources: [analysisruns/finalizers]
  verbs: [update]
# Experiments are written by users (or by a Rollout's experiment step); the controller
# watches them and writes their status through the subresource; their ReplicaSets, Services
# and AnalysisRuns are owned with blockOwnerDeletion, which needs the owner's finalizers.
- apiGroups: [argoproj.io]
  resources: [experiments]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [argoproj.io]
  resources: [experiments/status]
  verbs: [get, update, patch]
- apiGroups: [argoproj.io]
  resources: [experiments/finalizers]
  verbs: [update]
# Templates are written by users; the controller only reads them to build AnalysisRuns.
- apiGroups: [argoproj.io]
  resources: [analysistemplates{{ if .Values.clusterInstall }}, clusteranalysistemplates{{ end }}]
  verbs: [get, list, watch]
# The stable and canary ReplicaSets: created, scaled, annotated, and old ones deleted.
- apiGroups: [apps]
  resources: [replicasets]
  verbs: [get, list, watch, create, update, patch, delete]
# spec.workloadRef: the referenced Deployment (its template, and its scale per scaleDown),
# ReplicaSet (covered by the rule above) or PodTemplate, watched once a Rollout names one.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, patch]
# Stable/canary Services get the pod-template-hash selector; an Experiment's template
# Services (template.service) are created and deleted with it.
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, update, delete]
# Pods are read for availability and restarts (spec.restartAt) evict them, never delete;
# canaryMetadata / stableMetadata are patched onto running pods' labels and annotations.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
# Pod defaults for a template (to find a ReplicaSet made under another hash): a dry-run
# create of a PodTemplate, which stores nothing but needs the create verb; read and
# watched as the source of a Rollout's template when its workloadRef names one.
- apiGroups: [""]
  resources: [podtemplates]
  verbs: [create, get, list, watch]
# Events on Rollouts (RolloutUpdated, RolloutStepCompleted, ...), in both event APIs.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# Job metrics in AnalysisTemplates run as Jobs.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
{{- if .Values.analysis.secretArgs }}
# Only when switched on: AnalysisTemplate args taken from Secrets (valueFrom.secretKeyRef).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end }}
{{- if .Values.notifications.enabled }}
# Notifications: one ledger ConfigMap per subscribed Rollout, in its namespace, records what
# was claimed and sent (read back with a resourceVersion precondition on every write).
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, create, update]
{{- end }}
{{- with .Values.routers }}
{{- if .istio.enabled }}
# Istio router: shifts weights in VirtualServices and subset labels in DestinationRules.
- apiGroups: [networking.istio.io]
  resources: [virtualservices, destinationrules]
  verbs: [get, list, watch, update, patch]
{{- end }}
{{- if .smi.enabled }}
# SMI router: owns one TrafficSplit per Rollout, so it also creates it.
- apiGroups: [split.smi-spec.io]
  resources: [trafficsplits]
  verbs: [get, list, watch, create, update, patch]
{{- end }}
{{- if .openshift.enabled }}
# OpenShift router: edits the weights of an existing Route's backends.
- apiGroups: [route.openshift.io]
  resources: [routes]
  verbs: [get, list, watch, update, patch]
{{- end }}
{{- if .gatewayapi.enabled }}
# Gateway API router: edits backendRefs weights of existing HTTPRoutes.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, update, patch]
{{- end }}
{{- if .apisix.enabled }}
# APISIX router: edits backend weights of an ApisixRoute; creates and deletes the
# ApisixRoutes of header routes, which the Rollout owns.
- apiGroups: [apisix.apache.org]
  resources: [apisixroutes]
  verbs: [get, list, watch, create, update, patch, delete]
{{- end }}
{{- if .ambassador.enabled }}
# Ambassador router: creates, weighs and deletes the canary Mappings the Rollout owns.
{{- if hasPrefix "x.getambassador.io/" .ambassador.apiVersion }}
- apiGroups: [x.getambassador.io]
  resources: [ambassadormappings]
{{- else }}
- apiGroups: [getambassador.io]
  resources: [mappings]
{{- end }}
  verbs: [get, list, watch, create, update, patch, delete]
{{- end }}
{{- if .appMesh.enabled }}
# App Mesh router: weights in VirtualRouters, pod-hash labels on VirtualNodes.
- apiGroups: [appmesh.k8s.aws]
  resources: [virtualservices, virtualrouters, virtualnodes]
  verbs: [get, list, watch, update, patch]
{{- end }}
{{- if or .nginx.enabled .alb.enabled }}
# NGINX router: creates, edits and deletes the canary Ingresses it owns (reads the stable
# ones); ALB router: edits the action annotations (and header-route paths) of Ingresses.
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, update, patch{{ if .nginx.enabled }}, create, delete{{ end }}]
{{- end }}
{{- if .traefik.enabled }}
# Traefik router: edits the weights of an existing weighted TraefikService.
- apiGroups: [{{ (split "/" .traefik.apiVersion)._0 }}]
  resources: [traefikservices]
  verbs: [get, list, watch, update, patch]
{{- end }}
{{- end }}
{{- end }}
