{{/* Name of the release's objects, at most 63 characters. */}}
{{- define "sluice.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector of the Sluice server pods (never matches worker pods). */}}
{{- define "sluice.serverSelector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "sluice.secretName" -}}
{{- .Values.keys.existingSecret | default (include "sluice.fullname" .) -}}
{{- end -}}

{{/* Base URL workers and KEDA reach the Sluice Service at. */}}
{{- define "sluice.url" -}}
{{- printf "http://%s.%s.svc:%v" (include "sluice.fullname" .) .Release.Namespace .Values.service.port -}}
{{- end -}}

{{/* Kubernetes name of an endpoint's worker Deployment; call with (list $ endpoint). */}}
{{- define "sluice.workerName" -}}
{{- $root := index . 0 -}}{{- $ep := index . 1 -}}
{{- printf "%s-worker-%s" (include "sluice.fullname" $root) ($ep.id | lower | replace "_" "-") | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Pod security settings shared by server and workers' defaults. */}}
{{- define "sluice.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}
