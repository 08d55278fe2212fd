{{/*
The binding that grants one of the chart's Roles or ClusterRoles to the ServiceAccount of the same
name; the rules themselves are plain YAML in rbac-*.yaml. Pass a dict with "ctx" (the root context),
"kind" (Role or ClusterRole), "name", "namespace" (Role only), "component" and "serviceAccount".
*/}}
{{- define "linkerd-rotator.binding" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}Binding
metadata:
  {{- include "linkerd-rotator.metadata" (dict "ctx" .ctx "name" .name "namespace" .namespace "component" .component "wave" -1) | nindent 2 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ .kind }}
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: {{ .serviceAccount }}
    namespace: {{ .ctx.Release.Namespace }}
{{- end -}}
