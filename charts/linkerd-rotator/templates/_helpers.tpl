{{/*
Shared helpers: names, labels, images, the hardened pod and container security contexts, ArgoCD
annotations and a duration parser used by _validate.tpl.
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

{{- define "linkerd-rotator.runner.name" -}}
{{- printf "%s-runner" (include "linkerd-rotator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "linkerd-rotator.config.name" -}}
{{- printf "%s-config" (include "linkerd-rotator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Image reference; pass a dict with "image" (repository/tag/digest) and "ctx". */}}
{{- define "linkerd-rotator.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Restricted pod security (Pod Security Standards "restricted"); the images run as uid 65532. */}}
{{- define "linkerd-rotator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "linkerd-rotator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
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

{{/* Seconds in a duration of the form 1h30m10s (the only form values.schema.json accepts). */}}
{{- define "linkerd-rotator.durationSeconds" -}}
{{- $total := 0 -}}
{{- range $part := regexFindAll "[0-9]+[hms]" . -1 -}}
{{- $n := trimSuffix "h" (trimSuffix "m" (trimSuffix "s" $part)) | atoi -}}
{{- if hasSuffix "h" $part }}{{ $total = add $total (mul $n 3600) }}{{ end -}}
{{- if hasSuffix "m" $part }}{{ $total = add $total (mul $n 60) }}{{ end -}}
{{- if hasSuffix "s" $part }}{{ $total = add $total $n }}{{ end -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* The environment both apps read their object names from (see docs/chart.md). */}}
{{- define "linkerd-rotator.envFrom" -}}
- configMapRef:
    name: {{ include "linkerd-rotator.config.name" . }}
{{- end -}}

{{/*
A namespaced Role and the RoleBinding that grants it to one of the chart's ServiceAccounts; pass a
dict with "ctx", "name", "namespace", "component", "serviceAccount" and "rules" (a YAML string).
*/}}
{{- define "linkerd-rotator.roleWithBinding" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  {{- include "linkerd-rotator.metadata" (dict "ctx" .ctx "name" .name "namespace" .namespace "component" .component "wave" -1) | nindent 2 }}
rules:
  {{- .rules | trim | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  {{- include "linkerd-rotator.metadata" (dict "ctx" .ctx "name" .name "namespace" .namespace "component" .component "wave" -1) | nindent 2 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: {{ .serviceAccount }}
    namespace: {{ .ctx.Release.Namespace }}
{{- end -}}

{{/* A ClusterRole and its ClusterRoleBinding; same arguments as roleWithBinding, without "namespace". */}}
{{- define "linkerd-rotator.clusterRoleWithBinding" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  {{- include "linkerd-rotator.metadata" (dict "ctx" .ctx "name" .name "component" .component "wave" -1) | nindent 2 }}
rules:
  {{- .rules | trim | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  {{- include "linkerd-rotator.metadata" (dict "ctx" .ctx "name" .name "component" .component "wave" -1) | nindent 2 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: {{ .serviceAccount }}
    namespace: {{ .ctx.Release.Namespace }}
{{- end -}}

{{/* The trust-manager API group and resource the chart's bundle kind lives in. */}}
{{- define "linkerd-rotator.bundleRule" -}}
{{- if eq .Values.pki.bundle.kind "ClusterBundle" -}}
apiGroups: ["trust-manager.io"]
resources: ["clusterbundles"]
{{- else -}}
apiGroups: ["trust.cert-manager.io"]
resources: ["bundles"]
{{- end -}}
{{- end -}}

{{/* Pod-level settings shared by the runner's CronJob and bootstrap Job; pass the root context. */}}
{{- define "linkerd-rotator.runner.podSpec" -}}
serviceAccountName: {{ include "linkerd-rotator.runner.name" . }}
automountServiceAccountToken: true
restartPolicy: Never
securityContext:
  {{- include "linkerd-rotator.podSecurityContext" . | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.runner.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.runner.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.runner.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.runner.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
{{- end -}}

{{/* The runner container; pass a dict with "ctx" and "args" (a list). */}}
{{- define "linkerd-rotator.runner.container" -}}
- name: runner
  image: {{ include "linkerd-rotator.image" (dict "image" .ctx.Values.runner.image "ctx" .ctx) }}
  imagePullPolicy: {{ .ctx.Values.runner.image.pullPolicy }}
  args:
    {{- toYaml .args | nindent 4 }}
  envFrom:
    {{- include "linkerd-rotator.envFrom" .ctx | nindent 4 }}
  env:
    {{- include "linkerd-rotator.podEnv" .ctx.Values.runner.logLevel | nindent 4 }}
  securityContext:
    {{- include "linkerd-rotator.containerSecurityContext" .ctx | nindent 4 }}
  resources:
    {{- toYaml .ctx.Values.runner.resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end -}}

{{/* Env both apps get besides the config ConfigMap: log level and the pod's identity. */}}
{{- define "linkerd-rotator.podEnv" -}}
- name: LOG_LEVEL
  value: {{ . | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{/* Pod template labels and annotations of runner pods; pass a dict with "ctx". */}}
{{- define "linkerd-rotator.runner.podMetadata" -}}
labels:
  {{- include "linkerd-rotator.selectorLabels" (dict "ctx" .ctx "component" "runner") | nindent 2 }}
  {{- with .ctx.Values.runner.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include (print .ctx.Template.BasePath "/configmap.yaml") .ctx | sha256sum }}
  {{- with .ctx.Values.runner.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
