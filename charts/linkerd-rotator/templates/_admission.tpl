{{/*
Names the admission guards share (admission-guard*.yaml): the runner's user name as the API server
sees it, and the controllers whose deletes come with a namespace or an owner (the namespace
controller and the garbage collector, under their own ServiceAccounts or, without
--use-service-account-credentials, as the controller manager). Denying them would wedge a
namespace in Terminating.
*/}}
{{- define "linkerd-rotator.runner.username" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "linkerd-rotator.runner.name" .) -}}
{{- end -}}

{{- /* The exporter's ServiceAccount as request.userInfo.username names it. */}}
{{- define "linkerd-rotator.exporter.username" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "linkerd-rotator.exporter.name" .) -}}
{{- end -}}

{{- define "linkerd-rotator.deletingControllers" -}}
['system:serviceaccount:kube-system:namespace-controller', 'system:serviceaccount:kube-system:generic-garbage-collector', 'system:kube-controller-manager']
{{- end -}}
