{{/*
STAND-IN partials, written for this chart after the shape of upstream's charts/partials
(_metadata.tpl, _proxy.tpl, _volumes.tpl); not copied from them.
*/}}

{{- define "standin.created-by" -}}
linkerd.io/created-by: {{ .Values.cliVersion | default (printf "linkerd/helm %s" .Values.linkerdVersion) }}
{{- end -}}

{{- define "standin.proxy-version" -}}
{{ .Values.proxy.image.version | default .Values.linkerdVersion }}
{{- end -}}

{{/*
Pod-template annotations of the control-plane components. Like upstream,
linkerd.io/trust-root-sha256 is the sha256sum of the identityTrustAnchorsPEM chart value (not of
the ConfigMap these pods read at start), so under externalCA it is the hash of "" unless set.
*/}}
{{- define "standin.pod-annotations" -}}
{{- if empty .Values.cliVersion }}
linkerd.io/helm-release-version: {{ .Release.Revision | quote }}
{{- end }}
{{ include "standin.created-by" . }}
linkerd.io/proxy-version: {{ include "standin.proxy-version" . }}
cluster-autoscaler.kubernetes.io/safe-to-evict: "true"
linkerd.io/trust-root-sha256: {{ .Values.identityTrustAnchorsPEM | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . | trim }}
{{- end }}
{{- end -}}

{{- define "standin.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | trim | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | trim | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The linkerd-proxy container of a control-plane pod. Call with
(dict "root" $ "component" "linkerd-identity" "inboundPorts" "8080,9990").
Control-plane pods are not injected: like upstream (proxy.loadTrustBundleFromConfigMap) their
proxy reads the anchors from ConfigMap linkerd-identity-trust-roots, key ca-bundle.crt, through
configMapKeyRef, which the kubelet resolves only when the container starts.
*/}}
{{- define "standin.proxy" -}}
{{- $root := .root -}}
{{- $ns := $root.Release.Namespace -}}
{{- $td := $root.Values.identityTrustDomain | default $root.Values.clusterDomain -}}
{{- $identityAddr := $root.Values.proxy.identitySvcAddr | default (printf "linkerd-identity-headless.%s.svc.%s.:8080" $ns $root.Values.clusterDomain) -}}
name: linkerd-proxy
image: {{ $root.Values.proxy.image.name }}:{{ include "standin.proxy-version" $root }}
imagePullPolicy: IfNotPresent
env:
- name: _pod_name
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: _pod_ns
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: _pod_nodeName
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: LINKERD2_PROXY_INBOUND_PORTS
  value: {{ .inboundPorts | quote }}
- name: LINKERD2_PROXY_ADMIN_LISTEN_ADDR
  value: 0.0.0.0:4191
- name: LINKERD2_PROXY_INBOUND_LISTEN_ADDR
  value: 0.0.0.0:4143
- name: LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR
  value: 127.0.0.1:4140
- name: _pod_sa
  valueFrom:
    fieldRef:
      fieldPath: spec.serviceAccountName
- name: _l5d_ns
  value: {{ $ns }}
- name: _l5d_trustdomain
  value: {{ $td }}
- name: LINKERD2_PROXY_IDENTITY_DIR
  value: /var/run/linkerd/identity/end-entity
- name: LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS
  valueFrom:
    configMapKeyRef:
      name: linkerd-identity-trust-roots
      key: ca-bundle.crt
- name: LINKERD2_PROXY_IDENTITY_TOKEN_FILE
{{- if $root.Values.identity.serviceAccountTokenProjection }}
  value: /var/run/secrets/tokens/linkerd-identity-token
{{- else }}
  value: /var/run/secrets/kubernetes.io/serviceaccount/token
{{- end }}
- name: LINKERD2_PROXY_IDENTITY_SVC_ADDR
  value: {{ ternary "localhost.:8080" $identityAddr (eq .component "linkerd-identity") }}
- name: LINKERD2_PROXY_IDENTITY_LOCAL_NAME
  value: $(_pod_sa).$(_pod_ns).serviceaccount.identity.{{ $ns }}.{{ $td }}
- name: LINKERD2_PROXY_IDENTITY_SVC_NAME
  value: linkerd-identity.{{ $ns }}.serviceaccount.identity.{{ $ns }}.{{ $td }}
- name: LINKERD2_PROXY_DESTINATION_SVC_NAME
  value: linkerd-destination.{{ $ns }}.serviceaccount.identity.{{ $ns }}.{{ $td }}
- name: LINKERD2_PROXY_POLICY_SVC_NAME
  value: linkerd-destination.{{ $ns }}.serviceaccount.identity.{{ $ns }}.{{ $td }}
ports:
- containerPort: 4143
  name: linkerd-proxy
- containerPort: 4191
  name: linkerd-admin
livenessProbe:
  httpGet:
    path: /live
    port: 4191
  initialDelaySeconds: 10
readinessProbe:
  httpGet:
    path: /ready
    port: 4191
  initialDelaySeconds: 2
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  runAsUser: {{ $root.Values.proxy.uid }}
terminationMessagePolicy: FallbackToLogsOnError
volumeMounts:
- mountPath: /var/run/linkerd/identity/end-entity
  name: linkerd-identity-end-entity
{{- if $root.Values.identity.serviceAccountTokenProjection }}
- mountPath: /var/run/secrets/tokens
  name: linkerd-identity-token
{{- end }}
{{- end -}}

{{- define "standin.proxy-volumes" -}}
- name: linkerd-identity-end-entity
  emptyDir:
    medium: Memory
{{- if .Values.identity.serviceAccountTokenProjection }}
- name: linkerd-identity-token
  projected:
    sources:
    - serviceAccountToken:
        audience: identity.l5d.io
        expirationSeconds: 86400
        path: linkerd-identity-token
{{- end }}
{{- end -}}

{{/* The injector's caBundle: a PEM is base64-encoded (as upstream); base64 passes through. */}}
{{- define "standin.injector-ca-bundle" -}}
{{- $ca := required "proxyInjector.caBundle is required (the CA that signed the local injector's serving certificate)" .Values.proxyInjector.caBundle | trim -}}
{{- if hasPrefix "-----BEGIN" $ca -}}
{{ b64enc $ca }}
{{- else -}}
{{ $ca }}
{{- end -}}
{{- end -}}
