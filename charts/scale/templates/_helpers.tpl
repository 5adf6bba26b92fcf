{{- define "scale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "scale.fullname" -}}
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

{{- define "scale.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "scale.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "scale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scale.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "scale.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scale.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "scale.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "scale.leaseName" -}}
{{- default (printf "%s-leader" (include "scale.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "scale.modelsClaim" -}}
{{- default (printf "%s-models" (include "scale.fullname" .)) .Values.models.pvc.existingClaim }}
{{- end }}

{{/* The models volume: the PVC, or an emptyDir that the object-store sync fills. */}}
{{- define "scale.modelsVolume" -}}
- name: models
{{- if eq .Values.models.storage "pvc" }}
  persistentVolumeClaim:
    claimName: {{ include "scale.modelsClaim" . }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end }}

{{/* A container that copies models between the object store and the models volume. */}}
{{- define "scale.syncContainer" -}}
- name: {{ .name }}
  image: {{ .root.Values.models.objectStore.syncImage }}
  imagePullPolicy: IfNotPresent
  command: ["/bin/sh", "-c"]
  args:
    - {{ .script | quote }}
  {{- with .root.Values.models.objectStore.endpointUrl }}
  env:
    - name: AWS_ENDPOINT_URL
      value: {{ . | quote }}
  {{- end }}
  {{- with .root.Values.models.objectStore.credentialsSecret }}
  envFrom:
    - secretRef:
        name: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .root.Values.securityContext | nindent 4 }}
  resources:
    requests:
      cpu: 10m
      memory: 64Mi
    limits:
      memory: 256Mi
  volumeMounts:
    - name: models
      mountPath: {{ .root.Values.models.mountPath }}
    - name: tmp
      mountPath: /tmp
{{- end }}

{{/* The retraining container body (after its name). */}}
{{- define "scale.trainContainer" -}}
image: {{ include "scale.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
args: [train, --config, /etc/scale/training.toml]
resources:
  {{- toYaml .Values.retrain.resources | nindent 2 }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: config
    mountPath: /etc/scale
    readOnly: true
  - name: models
    mountPath: {{ .Values.models.mountPath }}
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/* TOML from a values map. Helm reads YAML numbers as floats, so toToml writes 3 as 3.0,
which SCALE's integer fields (folds, min_replicas) reject: whole numbers go back to integers. */}}
{{- define "scale.toml" -}}
{{- regexReplaceAll "(?m)^(\\s*[A-Za-z0-9_\"-]+ = -?[0-9]+)\\.0$" (toToml .) "${1}" }}
{{- end }}
