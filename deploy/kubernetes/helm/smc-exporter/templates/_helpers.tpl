{{- define "smc-exporter.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "smc-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "smc-exporter.labels" -}}
{{ include "smc-exporter.selectorLabels" . }}
app.kubernetes.io/part-of: smc-exporter
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "smc-exporter.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "smc-exporter.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "smc-exporter.volumeMounts" -}}
- name: config
  mountPath: /etc/smc-exporter
  readOnly: true
- name: api-key
  mountPath: /run/secrets/smc-exporter
  readOnly: true
{{- end -}}

{{/* The pod template of the Deployment and of the StatefulSet alike. */}}
{{- define "smc-exporter.podTemplate" -}}
metadata:
  labels:
    {{- include "smc-exporter.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: exporter
  annotations:
    kubectl.kubernetes.io/default-container: smc-exporter
    checksum/config: {{ .Values.config | sha256sum }}
spec:
  serviceAccountName: {{ include "smc-exporter.fullname" . }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: 30
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  initContainers:
    - name: config-check
      image: {{ include "smc-exporter.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["--config.check", "-c", "/etc/smc-exporter/config.toml"]
      securityContext:
        {{- include "smc-exporter.securityContext" . | nindent 8 }}
      resources:
        requests: {cpu: 10m, memory: 16Mi}
        limits: {memory: 64Mi}
      volumeMounts:
        {{- include "smc-exporter.volumeMounts" . | nindent 8 }}
  containers:
    - name: smc-exporter
      image: {{ include "smc-exporter.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- if gt (int .Values.shards) 1 }}
      args: ["-c", "/etc/smc-exporter/config.toml", "--total-shards", {{ int .Values.shards | quote }}]
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
      {{- end }}
      ports:
        - name: metrics
          containerPort: 9791
          protocol: TCP
      securityContext:
        {{- include "smc-exporter.securityContext" . | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /-/healthy
          port: metrics
        initialDelaySeconds: 5
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /-/ready
          port: metrics
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      volumeMounts:
        {{- include "smc-exporter.volumeMounts" . | nindent 8 }}
  volumes:
    - name: config
      configMap:
        name: {{ include "smc-exporter.fullname" . }}-config
    - name: api-key
      secret:
        secretName: {{ required "existingSecret.name is required" .Values.existingSecret.name }}
        defaultMode: 0440
        items:
          - key: {{ required "existingSecret.key is required" .Values.existingSecret.key }}
            path: api-key
{{- end -}}
