{{/*
Render-time checks for values that cannot work together (values.schema.json checks each value on
its own): each failure says what was found and what to change. Included once, from validate.yaml.
*/}}
{{/*
Seconds in a duration of the form 1h30m10s (the only form values.schema.json accepts); used by the
checks below and by the alert thresholds of files/prometheus-rules.yaml.
*/}}
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

{{- /*
The runner's rotationNeedMs (libs/rotation options.ts), in seconds, from the chart's values: five
phase deadlines, one leaf lifetime and Linkerd's 20s clock skew. monitoring-rules.spec checks it
against the TypeScript.
*/}}
{{- define "linkerd-rotator.rotationNeedSeconds" -}}
{{- $r := .Values.runner.rotation -}}
{{- add (mul 5 (include "linkerd-rotator.durationSeconds" $r.phaseTimeout | atoi)) (include "linkerd-rotator.durationSeconds" $r.leafLifetime | atoi) 20 -}}
{{- end -}}

{{- /* The runner's expiryMarginOf: runner.rotation.expiryMargin, else twice rotationNeedSeconds. */}}
{{- define "linkerd-rotator.expiryMarginSeconds" -}}
{{- if .Values.runner.rotation.expiryMargin -}}
{{- include "linkerd-rotator.durationSeconds" .Values.runner.rotation.expiryMargin -}}
{{- else -}}
{{- mul 2 (include "linkerd-rotator.rotationNeedSeconds" . | atoi) -}}
{{- end -}}
{{- end -}}

{{- define "linkerd-rotator.validate" -}}
{{- $v := .Values }}
{{- $seconds := dict }}
{{- range $key, $d := dict "anchor" $v.pki.trustAnchor.duration "anchorRenew" $v.pki.trustAnchor.renewBefore "issuer" $v.pki.issuerCertificate.duration "issuerRenew" $v.pki.issuerCertificate.renewBefore "serving" $v.webhook.servingCertificate.duration "servingRenew" $v.webhook.servingCertificate.renewBefore "servingCa" $v.webhook.servingCertificate.ca.duration "servingCaRenew" $v.webhook.servingCertificate.ca.renewBefore "olderThan" $v.runner.rotation.onlyIfOlderThan "phase" $v.runner.rotation.phaseTimeout "interval" $v.monitoring.serviceMonitor.interval "scrapeTimeout" $v.monitoring.serviceMonitor.scrapeTimeout }}
{{- $_ := set $seconds $key (include "linkerd-rotator.durationSeconds" $d | atoi) }}
{{- end }}

{{- $secrets := list $v.names.preparedAnchorSecret $v.names.activeAnchorSecret $v.names.previousAnchorSecret }}
{{- if ne (len (uniq $secrets)) 3 }}
{{- fail (printf "names.preparedAnchorSecret, names.activeAnchorSecret and names.previousAnchorSecret must be three different Secrets (found %s): give each its own name" (join ", " $secrets)) }}
{{- end }}

{{- if and (eq $v.fleet.role "member") $v.pki.trustAnchor.enabled }}
{{- fail "fleet.role is member but pki.trustAnchor.enabled is true: a member has no prepared Certificate, since the fleet's new anchor and its key come from the primary's (the fleet driver writes the member's prepared Secret with the certificate only); set pki.trustAnchor.enabled false, or fleet.role primary or empty for a cluster that makes its own anchors" }}
{{- end }}

{{- if ge (get $seconds "anchorRenew") (get $seconds "anchor") }}
{{- fail (printf "pki.trustAnchor.renewBefore (%s) must be shorter than pki.trustAnchor.duration (%s): lower renewBefore, e.g. to duration minus 730h for a monthly renewal" $v.pki.trustAnchor.renewBefore $v.pki.trustAnchor.duration) }}
{{- end }}
{{- if ge (get $seconds "issuerRenew") (get $seconds "issuer") }}
{{- fail (printf "pki.issuerCertificate.renewBefore (%s) must be shorter than pki.issuerCertificate.duration (%s): lower renewBefore (default 25h for 48h)" $v.pki.issuerCertificate.renewBefore $v.pki.issuerCertificate.duration) }}
{{- end }}
{{- if ge (get $seconds "issuer") (get $seconds "anchor") }}
{{- fail (printf "pki.issuerCertificate.duration (%s) must be shorter than pki.trustAnchor.duration (%s): an issuer cannot outlive the anchor that signs it" $v.pki.issuerCertificate.duration $v.pki.trustAnchor.duration) }}
{{- end }}
{{- if and $v.webhook.enabled (ge (get $seconds "servingRenew") (get $seconds "serving")) }}
{{- fail (printf "webhook.servingCertificate.renewBefore (%s) must be shorter than webhook.servingCertificate.duration (%s)" $v.webhook.servingCertificate.renewBefore $v.webhook.servingCertificate.duration) }}
{{- end }}
{{- if and $v.webhook.enabled (ge (get $seconds "servingCaRenew") (get $seconds "servingCa")) }}
{{- fail (printf "webhook.servingCertificate.ca.renewBefore (%s) must be shorter than webhook.servingCertificate.ca.duration (%s): lower ca.renewBefore (default 8760h for 43800h)" $v.webhook.servingCertificate.ca.renewBefore $v.webhook.servingCertificate.ca.duration) }}
{{- end }}
{{- /* After a CA renewal the caBundle holds the old CA until the leaf is re-issued: that must happen before the old CA expires. */}}
{{- if and $v.webhook.enabled (ge (get $seconds "serving") (get $seconds "servingCaRenew")) }}
{{- fail (printf "webhook.servingCertificate.duration (%s) must be shorter than webhook.servingCertificate.ca.renewBefore (%s): the leaf is re-issued under a renewed CA only at its own renewal, which must come before the old CA (still in the caBundle) expires" $v.webhook.servingCertificate.duration $v.webhook.servingCertificate.ca.renewBefore) }}
{{- end }}
{{- if $v.pki.trustAnchor.enabled }}
{{- if and (eq $v.pki.trustAnchor.algorithm "ECDSA") (ne (int $v.pki.trustAnchor.size) 256) }}
{{- fail (printf "pki.trustAnchor.size %v does not fit algorithm ECDSA: Linkerd accepts ECDSA anchors on P-256 only, set size 256" $v.pki.trustAnchor.size) }}
{{- end }}
{{- if and (eq $v.pki.trustAnchor.algorithm "RSA") (eq (int $v.pki.trustAnchor.size) 256) }}
{{- fail "pki.trustAnchor.size 256 does not fit algorithm RSA: set size 2048 or 4096" }}
{{- end }}
{{- end }}

{{- if include "linkerd-rotator.scheduledRotation" . }}
{{- if ge (get $seconds "olderThan") (get $seconds "anchor") }}
{{- fail (printf "runner.rotation.onlyIfOlderThan (%s) must be shorter than pki.trustAnchor.duration (%s), or the active anchor expires before it is rotated: lower onlyIfOlderThan" $v.runner.rotation.onlyIfOlderThan $v.pki.trustAnchor.duration) }}
{{- end }}
{{- $margin := include "linkerd-rotator.expiryMarginSeconds" . | atoi }}
{{- if ge $margin (get $seconds "anchor") }}
{{- fail (printf "runner.rotation.expiryMargin (%s, %v seconds) must be shorter than pki.trustAnchor.duration (%s), or every scheduled run starts a rotation: each new anchor already ends within the margin; lengthen the anchor's duration, or set expiryMargin (empty means twice 5 x phaseTimeout + leafLifetime + 20s)" (default "derived" $v.runner.rotation.expiryMargin) $margin $v.pki.trustAnchor.duration) }}
{{- end }}
{{- if le (int $v.runner.rotation.activeDeadlineSeconds) (get $seconds "phase") }}
{{- fail (printf "runner.rotation.activeDeadlineSeconds (%v) must exceed runner.rotation.phaseTimeout (%s = %v seconds), or every run is killed before a phase can time out cleanly: raise activeDeadlineSeconds" $v.runner.rotation.activeDeadlineSeconds $v.runner.rotation.phaseTimeout (get $seconds "phase")) }}
{{- end }}
{{- end }}

{{- if and $v.webhook.enabled (not $v.exporter.enabled) }}
{{- fail "webhook.enabled needs exporter.enabled: the webhook reads the anchors and the identity issuer from the public PKI view ConfigMap that the exporter publishes (it holds no access to the Secrets), and without it denies every trust-roots and issuer write; set exporter.enabled true, or webhook.enabled false" }}
{{- end }}
{{- if and $v.webhook.enabled (eq $v.webhook.clientConfig.mode "url") (not $v.webhook.clientConfig.url) }}
{{- fail "webhook.clientConfig.mode is url but webhook.clientConfig.url is empty: set the webhook's https://.../validate URL, or use mode service" }}
{{- end }}
{{- if and $v.webhook.enabled (eq $v.webhook.clientConfig.mode "service") $v.webhook.clientConfig.url }}
{{- fail "webhook.clientConfig.url is set but webhook.clientConfig.mode is service: set mode url to use the URL, or clear the URL" }}
{{- end }}
{{- if and $v.webhook.enabled $v.webhook.podDisruptionBudget.enabled (ge (int $v.webhook.podDisruptionBudget.minAvailable) (int $v.webhook.replicaCount)) }}
{{- fail (printf "webhook.podDisruptionBudget.minAvailable (%v) must be below webhook.replicaCount (%v), or no webhook pod can ever be evicted and node drains stall: raise replicaCount or lower minAvailable" $v.webhook.podDisruptionBudget.minAvailable $v.webhook.replicaCount) }}
{{- end }}

{{- if and (eq $v.rbac.podDryRun.mode "namespaces") (not $v.rbac.podDryRun.namespaces) }}
{{- fail "rbac.podDryRun.mode is namespaces but rbac.podDryRun.namespaces is empty: list the meshed namespaces the runner may dry-run pods in, or use mode cluster or none" }}
{{- end }}
{{- if and (ne $v.rbac.podDryRun.mode "namespaces") $v.rbac.podDryRun.namespaces }}
{{- fail (printf "rbac.podDryRun.namespaces is set but rbac.podDryRun.mode is %s: set mode namespaces to use the list, or clear it" $v.rbac.podDryRun.mode) }}
{{- end }}

{{- $m := $v.monitoring }}
{{- with $m.exporter }}
{{- fail (printf "monitoring.exporter moved to exporter (the exporter has its own Deployment): expected it empty, found %s; set exporter.watchPods and exporter.meshedPodSelector instead and remove monitoring.exporter" (toJson .)) }}
{{- end }}
{{- if and (or $m.serviceMonitor.enabled $m.prometheusRule.enabled $m.dashboard.enabled) (not $v.exporter.enabled) }}
{{- fail "monitoring.serviceMonitor/prometheusRule/dashboard expect the exporter, found exporter.enabled false: set exporter.enabled true or turn monitoring off" }}
{{- end }}
{{- if and $m.serviceMonitor.enabled (not $m.metricsService.enabled) }}
{{- fail "monitoring.serviceMonitor.enabled needs monitoring.metricsService.enabled: the ServiceMonitor scrapes through the metrics Service" }}
{{- end }}
{{- if and $m.serviceMonitor.enabled (gt (get $seconds "scrapeTimeout") (get $seconds "interval")) }}
{{- fail (printf "monitoring.serviceMonitor.scrapeTimeout (%s) must not exceed monitoring.serviceMonitor.interval (%s)" $m.serviceMonitor.scrapeTimeout $m.serviceMonitor.interval) }}
{{- end }}
{{- end -}}
