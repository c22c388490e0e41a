// Copyright The ssmsession Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"text/template"
	"time"
)

// config is what a test's collector runs: receivers for the paths the test
// feeds, the processor (and the hunt connector), and where output goes.
// Zero values leave a part out.
type config struct {
	State string // file_storage directory: file_log offsets, new terms, counts

	Input      string        // folder file_log reads (every file in it)
	Poll       time.Duration // its poll_interval
	FromEnd    bool          // start_at: end (default beginning)
	OneByOne   bool          // one file at a time, in name order (a backfill)
	JSONParser string        // "body" or "attributes": a json_parser operator
	Second     string        // a second folder, read by its own pipeline through the same processor

	OTLPPort                      int // an otlp (gRPC) receiver on 127.0.0.1
	Kafka, KafkaTopic, KafkaGroup string
	KafkaEncoding                 string

	Redis          string   // new terms in Redis (host:port) instead of file_storage
	RedisTLS       bool     // over TLS, trusting the system roots (tls: {})
	RedisCluster   []string // or in a Redis Cluster, by its seed nodes
	LearningPeriod string   // new_terms.learning_period

	Output     string // the file exporter's path for the tagged logs
	Sink       string // or an otlp exporter's endpoint
	Metrics    string // the hunt connector's metrics, to this file
	HuntWindow string // its window (default 168h)

	MetricsPort int // the collector's own metrics (Prometheus pull)

	Env []string // the collector's environment, added to the test's
}

// collectorConfig renders a config. The file exporters write through
// (rotation set; without it they buffer), so a crash loses nothing written.
var collectorConfig = template.Must(template.New("collector").Parse(`
extensions:
  file_storage:
    directory: {{.State}}
    create_directory: true
receivers:
{{- if .Input}}
  file_log:
    include: ['{{.Input}}/*']
    start_at: {{if .FromEnd}}end{{else}}beginning{{end}}
    storage: file_storage
    poll_interval: {{if .Poll}}{{.Poll}}{{else}}50ms{{end}}
    max_log_size: 64MiB
    compression: auto
{{- if .OneByOne}}
    max_concurrent_files: 2
{{- end}}
{{- if .JSONParser}}
    operators:
      - type: json_parser
{{- if eq .JSONParser "body"}}
        parse_to: body
{{- end}}
{{- end}}
{{- end}}
{{- if .Second}}
  file_log/second:
    include: ['{{.Second}}/*']
    start_at: beginning
    storage: file_storage
    poll_interval: 50ms
{{- end}}
{{- if .OTLPPort}}
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.OTLPPort}}
{{- end}}
{{- if .Kafka}}
  kafka:
    brokers: [{{.Kafka}}]
    group_id: {{.KafkaGroup}}
    initial_offset: earliest
    max_fetch_wait: 10ms
    logs:
      topics: [{{.KafkaTopic}}]
      encoding: {{.KafkaEncoding}}
{{- end}}
processors:
  ssmsession:
    new_terms:
{{- if .LearningPeriod}}
      learning_period: {{.LearningPeriod}}
{{- end}}
{{- if .Redis}}
      backend: redis
      redis:
        endpoint: {{.Redis}}
{{- if .RedisTLS}}
        tls: {}
{{- end}}
{{- else if .RedisCluster}}
      backend: redis
      redis:
        cluster:
          endpoints: [{{range $i, $e := .RedisCluster}}{{if $i}}, {{end}}{{$e}}{{end}}]
{{- else}}
      storage: file_storage
{{- end}}
{{- if .Metrics}}
connectors:
  ssmsession:
    emit_interval: 100ms
{{- if .HuntWindow}}
    window: {{.HuntWindow}}
{{- end}}
    storage: file_storage
{{- end}}
exporters:
{{- if .Output}}
  file/logs:
    path: {{.Output}}
    rotation: {max_megabytes: 1024}
{{- end}}
{{- if .Sink}}
  otlp/sink:
    endpoint: {{.Sink}}
    tls: {insecure: true}
{{- end}}
{{- if .Metrics}}
  file/metrics:
    path: {{.Metrics}}
    rotation: {max_megabytes: 1024}
{{- end}}
service:
  extensions: [file_storage]
  telemetry:
    logs:
      level: info
    metrics:
{{- if .MetricsPort}}
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {{.MetricsPort}}
{{- else}}
      level: none
{{- end}}
  pipelines:
    logs:
      receivers: [{{if .Input}}file_log, {{end}}{{if .OTLPPort}}otlp, {{end}}{{if .Kafka}}kafka, {{end}}]
      processors: [ssmsession]
      exporters: [{{if .Output}}file/logs, {{end}}{{if .Sink}}otlp/sink, {{end}}{{if .Metrics}}ssmsession{{end}}]
{{- if .Second}}
    logs/second:
      receivers: [file_log/second]
      processors: [ssmsession]
      exporters: [file/logs]
{{- end}}
{{- if .Metrics}}
    metrics:
      receivers: [ssmsession]
      exporters: [file/metrics]
{{- end}}
`))
