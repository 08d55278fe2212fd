{{/*
Names, labels and object metadata shared by every template. Pod-level helpers (images, security
contexts, env, the runner's pod) are in _pods.tpl; the duration parser is in _validate.tpl.
*/}}

{{- define "linkerd-rotator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "linkerd-rotator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "linkerd-rotator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; pass a dict with "ctx" (the root context) and optional "component". */}}
{{- define "linkerd-rotator.labels" -}}
helm.sh/chart: {{ include "linkerd-rotator.chart" .ctx }}
{{ include "linkerd-rotator.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: linkerd-rotator
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "linkerd-rotator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "linkerd-rotator.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "linkerd-rotator.webhook.name" -}}
{{- printf "%s-webhook" (include "linkerd-rotator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "linkerd-rotator.exporter.name" -}}
{{- printf "%s-exporter" (include "linkerd-rotator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "linkerd-rotator.runner.name" -}}
{{- printf "%s-runner" (include "linkerd-rotator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "linkerd-rotator.config.name" -}}
{{- printf "%s-config" (include "linkerd-rotator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Object metadata; pass a dict with "ctx", "name", optional "namespace" (omit for cluster-scoped
objects), "component", "extraLabels", "annotations", "wave" and "customResource". ArgoCD waves: -1 identity and
config (ServiceAccounts, RBAC, ConfigMaps), 0 PKI custom resources, 1 workloads and webhook
registration. Custom resources are also marked SkipDryRunOnMissingResource so a first ArgoCD sync
passes its dry run while cert-manager's and trust-manager's CRDs are still arriving.
*/}}
{{- define "linkerd-rotator.metadata" -}}
name: {{ .name }}
{{- with .namespace }}
namespace: {{ . }}
{{- end }}
labels:
  {{- include "linkerd-rotator.labels" . | nindent 2 }}
  {{- with .extraLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $annotations := deepCopy (default (dict) .annotations) }}
{{- if and .ctx.Values.argocd.syncWaves (hasKey . "wave") }}
{{- $_ := set $annotations "argocd.argoproj.io/sync-wave" (toString .wave) }}
{{- if .customResource }}
{{- $_ := set $annotations "argocd.argoproj.io/sync-options" (trimPrefix "," (printf "%s,SkipDryRunOnMissingResource=true" (default "" (get $annotations "argocd.argoproj.io/sync-options")))) }}
{{- end }}
{{- end }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- /*
"true" when the chart renders the scheduled rotation (the runner's CronJob): runner.rotation.enabled,
and no fleet.role, since a fleet is rotated by the fleet driver and its clusters' own `rotate` would
rotate each alone (docs/multicluster.md), then refuse the fleet's state on every run.
*/}}
{{- define "linkerd-rotator.scheduledRotation" -}}
{{- if and .Values.runner.rotation.enabled (not .Values.fleet.role) }}true{{ end -}}
{{- end -}}

{{- /* "true" when the chart renders the bootstrap hook: runner.bootstrap.enabled, and not a fleet member. */}}
{{- define "linkerd-rotator.bootstrapHook" -}}
{{- if and .Values.runner.bootstrap.enabled (ne .Values.fleet.role "member") }}true{{ end -}}
{{- end -}}
