{{/*
Pod-level helpers: image references, the hardened pod and container security contexts, the env every
app gets, and the runner's pod shared by its CronJob, bootstrap hook Job and helm test Pod.
*/}}

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

{{/* The environment both apps read their object names from (see docs/chart.md). */}}
{{- define "linkerd-rotator.envFrom" -}}
- configMapRef:
    name: {{ include "linkerd-rotator.config.name" . }}
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

{{/*
The rotator's own marks on every pod it makes, as YAML maps under "labels" and "annotations"; they win
over podLabels and podAnnotations. `linkerd.io/inject: disabled`: the rotator never runs in the mesh it
rotates. `app.kubernetes.io/part-of: linkerd-rotator`: should a pod be meshed anyway, the runner leaves
it out of its gates (libs/kube pod-facts.ts ROTATOR_POD_LABEL), so its own Job's pod never blocks them.
*/}}
{{- define "linkerd-rotator.ownPodMarks" -}}
labels:
  app.kubernetes.io/part-of: linkerd-rotator
annotations:
  linkerd.io/inject: disabled
{{- end -}}

{{/*
Pod template labels and annotations of the chart's Deployments and runner Jobs; pass a dict with "ctx",
"component" and "pod" (the component's values: podLabels, podAnnotations).
*/}}
{{- define "linkerd-rotator.podMetadata" -}}
{{- $own := include "linkerd-rotator.ownPodMarks" . | fromYaml }}
{{- $selector := include "linkerd-rotator.selectorLabels" (dict "ctx" .ctx "component" .component) | fromYaml }}
{{- $checksum := dict "checksum/config" (include (print .ctx.Template.BasePath "/configmap.yaml") .ctx | sha256sum) -}}
labels:
  {{- merge $own.labels $selector (deepCopy (default (dict) .pod.podLabels)) | toYaml | nindent 2 }}
annotations:
  {{- merge $own.annotations $checksum (deepCopy (default (dict) .pod.podAnnotations)) | toYaml | nindent 2 }}
{{- end -}}

{{/* Pod template labels and annotations of runner pods; pass a dict with "ctx". */}}
{{- define "linkerd-rotator.runner.podMetadata" -}}
{{- include "linkerd-rotator.podMetadata" (dict "ctx" .ctx "component" "runner" "pod" .ctx.Values.runner) }}
{{- end -}}
