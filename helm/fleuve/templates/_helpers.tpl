{{/* The release's full name, at most 63 characters. */}}
{{- define "fleuve.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fleuve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "fleuve.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "fleuve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fleuve
{{- end -}}

{{/* Selector of one component (a service, the edge, a migration). ctx: root, component. */}}
{{- define "fleuve.selector" -}}
app.kubernetes.io/name: {{ include "fleuve.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "fleuve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fleuve.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Fleuve image: repository@digest, or repository:tag (appVersion by default). */}}
{{- define "fleuve.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "fleuve.edgeImage" -}}
{{- if .Values.edge.image.digest -}}
{{- printf "%s@%s" .Values.edge.image.repository .Values.edge.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.edge.image.repository .Values.edge.image.tag -}}
{{- end -}}
{{- end -}}

{{/* The database a service uses (ctx: root, service). */}}
{{- define "fleuve.databaseOf" -}}
{{- if has .service (list "order" "stock" "billing") -}}
{{- .service -}}
{{- else -}}
homologation
{{- end -}}
{{- end -}}

{{/* libpq URL of a database (its password comes from PGPASSWORD). ctx: root, database. */}}
{{- define "fleuve.databaseUrl" -}}
{{- $pg := .root.Values.postgresql -}}
{{- printf "postgres://%s@%s:%v/%s?sslmode=%s" $pg.username $pg.host $pg.port (index $pg.databases .database) $pg.sslMode -}}
{{- end -}}

{{/* Secret names and keys: the user's existing Secret, or the chart's. */}}
{{- define "fleuve.keysSecret" -}}
{{- default (printf "%s-keys" (include "fleuve.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "fleuve.credentialsSecret" -}}
{{- printf "%s-credentials" (include "fleuve.fullname" .) -}}
{{- end -}}

{{/* The environment of every Fleuve container that reaches PostgreSQL (ctx: root, database). */}}
{{- define "fleuve.databaseEnv" -}}
- name: FLEUVE_DATABASE_URL
  value: {{ include "fleuve.databaseUrl" . | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      {{- if .root.Values.postgresql.existingSecret }}
      name: {{ .root.Values.postgresql.existingSecret }}
      key: {{ .root.Values.postgresql.existingSecretPasswordKey }}
      {{- else }}
      name: {{ include "fleuve.credentialsSecret" .root }}
      key: postgres-password
      {{- end }}
{{- end -}}

{{/* A secretKeyRef env entry: ctx name (variable), secret, key, optional. */}}
{{- define "fleuve.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      optional: {{ .optional | default false }}
{{- end -}}

{{/* The credentials Secret's data (its checksum rolls the pods when one changes). */}}
{{- define "fleuve.credentials" -}}
postgres-password: {{ .Values.postgresql.password | quote }}
{{- $r := .Values.redis }}
{{- $auth := ternary (printf ":%s@" ($r.password | urlquery)) "" (ne $r.password "") }}
redis-url: {{ printf "%s://%s%s:%v/%v" (ternary "rediss" "redis" $r.tls) $auth $r.host $r.port $r.db | quote }}
schema-registry-password: {{ .Values.schemaRegistry.password | quote }}
sasl-password: {{ .Values.kafka.saslPassword | quote }}
smtp-password: {{ .Values.notification.smtp.password | quote }}
webhook-secret: {{ .Values.notification.webhookSecret | quote }}
{{- end -}}
