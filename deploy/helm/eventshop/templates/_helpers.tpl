{{/*
eventshop.fullname is the prefix of every object's name: the release name,
with the chart's name added unless the release name holds it already.
*/}}
{{- define "eventshop.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 42 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 42 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* eventshop.name is the name of a service's objects; takes (dict "root" $ "service" NAME). */}}
{{- define "eventshop.name" -}}
{{- printf "%s-%s" (include "eventshop.fullname" .root) .service | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
eventshop.labels are every object's labels. With a service, its name is
app.kubernetes.io/name, which the ServiceMonitor makes the Prometheus job, as
the dashboard and the alert rules expect (job="order-service", ...).
Takes (dict "root" $ "service" NAME), the service optional.
*/}}
{{- define "eventshop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: eventshop
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "eventshop.selectorLabels" . }}
{{- end -}}

{{- define "eventshop.selectorLabels" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .service }}
app.kubernetes.io/name: {{ . }}
{{- end }}
{{- end -}}

{{/* eventshop.brokers is KAFKA_BROKERS: kafka.bootstrapServers, or the Strimzi cluster's plain listener. */}}
{{- define "eventshop.brokers" -}}
{{- with .Values.kafka.bootstrapServers -}}
{{ . }}
{{- else -}}
{{ printf "%s-kafka-bootstrap.%s.svc:9092" .Values.strimzi.cluster (include "eventshop.kafkaNamespace" .) }}
{{- end -}}
{{- end -}}

{{- define "eventshop.kafkaNamespace" -}}
{{- .Values.strimzi.namespace | default .Release.Namespace -}}
{{- end -}}

{{/*
eventshop.groupTopics lists the topics a service's consumer group reads, as
YAML; takes (dict "service" NAME "group" GROUP). They are the services' own
(pkg/contracts, and inventory-service's reservations named after its group),
not settings.
*/}}
{{- define "eventshop.groupTopics" -}}
{{- if eq .service "inventory-service" }}
- new-order-topic
- {{ .group }}-reservations
{{- else if eq .service "notification-service" }}
- new-order-topic
- inventory-empty-topic
{{- else if eq .service "logging-service" }}
- new-logging-action-topic
{{- else }}
{{- fail (printf "services.%s.consumerGroup: %s consumes no topic, so it has no group" .service .service) }}
{{- end }}
{{- end -}}

{{/*
eventshop.topics lists every topic the services use, as YAML: the contract's
three, the dead-letter topic, and inventory-service's own three, named after
its group, with the settings it gives them itself at start (its
internal/pipeline TopicSpecs; retention.ms is its ORDER_ID_WINDOW, 1 h, plus
an hour). The Topic Operator would undo any other value the service sets.
*/}}
{{- define "eventshop.topics" -}}
{{- $group := index .Values.services "inventory-service" "consumerGroup" -}}
- name: new-order-topic
- name: inventory-empty-topic
- name: new-logging-action-topic
- name: dead-letter-topic
- name: {{ $group }}-reservations
- name: {{ $group }}-stock-changelog
  config:
    cleanup.policy: compact
    segment.ms: "600000"
- name: {{ $group }}-applied-orders-changelog
  config:
    cleanup.policy: delete
    retention.ms: "7200000"
    segment.ms: "600000"
{{- end -}}

{{/*
eventshop.checkEnv fails the render when a service's env names a setting
the chart sets from another value, or one its KafkaTopics follow.
*/}}
{{- define "eventshop.checkEnv" -}}
{{- $from := "the chart sets it from %s; set that instead" -}}
{{- $owned := dict
  "KAFKA_BROKERS" (printf $from "kafka.bootstrapServers")
  "TOPIC_PARTITIONS" (printf $from "kafka.partitions")
  "TOPIC_REPLICATION_FACTOR" (printf $from "kafka.replicationFactor")
  "LOG_FORMAT" (printf $from "logFormat")
  "LOG_LEVEL" (printf $from "logLevel")
  "SHUTDOWN_TIMEOUT" (printf $from "shutdownTimeoutSeconds")
  "OTEL_EXPORTER_OTLP_ENDPOINT" (printf $from "tracing.otlpEndpoint")
  "HTTP_ADDR" (printf $from "the service's port")
  "CONSUMER_GROUP" (printf $from "the service's consumerGroup")
  "GOMEMLIMIT" (printf $from "the service's goMemLimit")
  "DEAD_LETTER_TOPIC" "the KafkaTopics and every service name it dead-letter-topic"
  "ORDER_ID_WINDOW" "the applied-orders changelog's KafkaTopic keeps orders for the default window, 1h, plus an hour"
-}}
{{- range $name, $svc := .Values.services -}}
{{- range $key, $_ := $svc.env -}}
{{- with get $owned $key -}}
{{- fail (printf "services.%s.env.%s: %s" $name $key .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* eventshop.checkGrace fails the render when a pod could be killed before its graceful stop is over. */}}
{{- define "eventshop.checkGrace" -}}
{{- $v := .Values -}}
{{- range $name, $svc := $v.services -}}
{{- $needed := add $v.shutdownTimeoutSeconds ($svc.preStopSleepSeconds | default 0) -}}
{{- if le (int $v.terminationGracePeriodSeconds) (int $needed) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed shutdownTimeoutSeconds plus services.%s.preStopSleepSeconds (%d): the kubelet would kill %s before its graceful stop is over" (int $v.terminationGracePeriodSeconds) $name (int $needed) $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
