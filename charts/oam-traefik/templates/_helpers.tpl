{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "oam-traefik.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "oam-traefik.fullname" -}}
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

{{- define "oam-traefik.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "oam-traefik.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oam-traefik.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "oam-traefik.labels" -}}
helm.sh/chart: {{ include "oam-traefik.chart" . }}
{{ include "oam-traefik.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: oam-traefik
{{- end }}

{{- define "oam-traefik.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "oam-traefik.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Both webhook configurations share this name; the webhook patches them by it in self-signed mode. */}}
{{- define "oam-traefik.webhookConfigName" -}}
{{- include "oam-traefik.fullname" . }}
{{- end }}

{{- define "oam-traefik.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "oam-traefik.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "oam-traefik.certificateName" -}}
{{- printf "%s-serving" (include "oam-traefik.fullname" .) }}
{{- end }}

{{/* DNS names the serving certificate covers: the Service as the API server calls it. */}}
{{- define "oam-traefik.serviceDNSNames" -}}
{{- $svc := include "oam-traefik.fullname" . -}}
- {{ printf "%s.%s.svc" $svc .Release.Namespace }}
- {{ printf "%s.%s.svc.cluster.local" $svc .Release.Namespace }}
{{- end }}

{{/* Namespaces never intercepted: kube-system, the release's, the policy's exempt ones and the extra ones. */}}
{{- define "oam-traefik.excludedNamespaces" -}}
{{- $ns := list "kube-system" .Release.Namespace }}
{{- $ns = concat $ns (.Values.policy.spec.exemptNamespaces | default list) (.Values.webhook.excludeNamespaces | default list) }}
{{- toJson ($ns | uniq) }}
{{- end }}

{{/* The policy file as the webhook reads it, with the excluded namespaces exempt there too. */}}
{{- define "oam-traefik.policy" -}}
{{- $policy := deepCopy .Values.policy }}
{{- $spec := $policy.spec | default dict }}
{{- $_ := set $spec "exemptNamespaces" (include "oam-traefik.excludedNamespaces" . | fromJsonArray) }}
{{- /* The identity trait's auth service always counts as authentication. */}}
{{- with include "oam-traefik.authAddress" . }}
{{- $_ := set $spec "trustedAuthServices" (append ($spec.trustedAuthServices | default list) . | uniq) }}
{{- end }}
{{- $_ := set $policy "spec" $spec }}
{{- toYaml $policy }}
{{- end }}

{{- define "oam-traefik.tlsMode" -}}
{{- $modes := list "selfSigned" "certManager" "external" }}
{{- if not (has .Values.tls.mode $modes) }}
{{- fail (printf "tls.mode must be one of %s, not %q" (join ", " $modes) .Values.tls.mode) }}
{{- end }}
{{- .Values.tls.mode }}
{{- end }}

{{/* The verifier (oam-traefik-auth): its objects' name, and labels that the webhook's selectors never match. */}}
{{- define "oam-traefik.auth.fullname" -}}
{{- printf "%s-auth" (include "oam-traefik.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "oam-traefik.auth.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-auth" (include "oam-traefik.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "oam-traefik.auth.labels" -}}
helm.sh/chart: {{ include "oam-traefik.chart" . }}
{{ include "oam-traefik.auth.selectorLabels" . }}
app.kubernetes.io/component: auth
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: oam-traefik
{{- end }}

{{/* The forwardAuth address the identity trait's Middlewares call: the one given, or the chart's verifier. */}}
{{- define "oam-traefik.authAddress" -}}
{{- if .Values.identity.authService.address }}
{{- .Values.identity.authService.address }}
{{- else if .Values.auth.enabled }}
{{- printf "http://%s.%s.svc:%v/verify" (include "oam-traefik.auth.fullname" .) .Release.Namespace .Values.auth.service.port }}
{{- end }}
{{- end }}

{{/* An image reference, [registry/]repository:tag, from (list $ repository tag registry):
global.imageRegistry wins over the image's own registry. */}}
{{- define "oam-traefik.image" -}}
{{- $root := index . 0 -}}
{{- $registry := ($root.Values.global).imageRegistry | default (index . 3) -}}
{{- $ref := printf "%s:%s" (index . 1) (index . 2) -}}
{{- if $registry }}
{{- printf "%s/%s" (trimSuffix "/" $registry) $ref }}
{{- else }}
{{- $ref }}
{{- end }}
{{- end }}

{{/* The webhook's image (the verifier's and the test's too, unless set apart). */}}
{{- define "oam-traefik.webhookImage" -}}
{{- include "oam-traefik.image" (list . .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) .Values.image.registry) }}
{{- end }}
