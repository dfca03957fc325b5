package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/config"
	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

func TestLoadTracing(t *testing.T) {
	on := func(change func(*config.Tracing)) config.Tracing {
		tr := config.Tracing{
			URL: "http://collector:4318/v1/traces", Headers: map[string]string{}, Timeout: 10 * time.Second,
			Resource: map[string]string{"service.name": product.Name}, Sampler: "parentbased_always_on", SamplerArg: 1,
		}
		if change != nil {
			change(&tr)
		}
		return tr
	}
	tests := []struct {
		name string
		env  map[string]string
		want config.Tracing
	}{
		{"off without an endpoint", nil, config.Tracing{}},
		{"off without an endpoint, whatever else is set", map[string]string{"OTEL_SERVICE_NAME": "boards", "OTEL_EXPORTER_OTLP_HEADERS": "a=b"}, config.Tracing{}},
		{"the base endpoint gains /v1/traces", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, on(nil)},
		{"a trailing slash too", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, on(nil)},
		{"the traces endpoint is used as it is", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://api.example/otlp/traces"},
			on(func(tr *config.Tracing) { tr.URL = "https://api.example/otlp/traces" })},
		{"disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, config.Tracing{}},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, config.Tracing{}},
		{"headers, gzip, timeout, service and resource", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT":    "http://collector:4318",
			"OTEL_EXPORTER_OTLP_HEADERS":     "api-key=k%3D1, x-team=boards",
			"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
			"OTEL_EXPORTER_OTLP_TIMEOUT":     "2500",
			"OTEL_RESOURCE_ATTRIBUTES":       "deployment.environment.name=prod,service.name=from-attrs",
			"OTEL_SERVICE_NAME":              "boards",
		}, on(func(tr *config.Tracing) {
			tr.Headers = map[string]string{"api-key": "k=1", "x-team": "boards"}
			tr.Gzip, tr.Timeout = true, 2500*time.Millisecond
			tr.Resource = map[string]string{"service.name": "boards", "deployment.environment.name": "prod"}
		})},
		{"the traces variants win", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT":           "http://collector:4318",
			"OTEL_EXPORTER_OTLP_HEADERS":            "a=general",
			"OTEL_EXPORTER_OTLP_TRACES_HEADERS":     "a=traces",
			"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT":     "500",
			"OTEL_EXPORTER_OTLP_PROTOCOL":           "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL":    "http/protobuf",
			"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
		}, on(func(tr *config.Tracing) {
			tr.Headers, tr.Timeout, tr.Gzip = map[string]string{"a": "traces"}, 500*time.Millisecond, true
		})},
		{"a sampled tenth", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
			on(func(tr *config.Tracing) { tr.Sampler, tr.SamplerArg = "parentbased_traceidratio", 0.1 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(nil, func(k string) string { return tt.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Tracing); diff != "" {
				t.Errorf("Tracing (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadTracingInvalid(t *testing.T) {
	endpoint := func(more map[string]string) map[string]string {
		env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
		for k, v := range more {
			env[k] = v
		}
		return env
	}
	tests := []struct {
		name      string
		env       map[string]string
		fragments []string
		secret    string // never in the message
	}{
		{"not a URL", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http(s) URL"}, ""},
		{"credentials in the URL", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://user:pw-42@api.example/v1/traces"}, []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS"}, "pw-42"},
		{"grpc", endpoint(map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}), []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "4318"}, ""},
		{"http/json", endpoint(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}), []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"}, ""},
		{"a header without =", endpoint(map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key:s3cret"}), []string{"OTEL_EXPORTER_OTLP_HEADERS", "key=value"}, "s3cret"},
		{"a header value with a line break", endpoint(map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cret%0D%0AX-Evil:1"}), []string{"OTEL_EXPORTER_OTLP_HEADERS", `"api-key"`, "control character"}, "s3cret"},
		{"a header name that is not a token", endpoint(map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api key=s3cret"}), []string{"OTEL_EXPORTER_OTLP_HEADERS", `"api key"`, "header name"}, "s3cret"},
		{"a header badly encoded", endpoint(map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cret%zz"}), []string{"OTEL_EXPORTER_OTLP_HEADERS", `"api-key"`}, "s3cret"},
		{"compression", endpoint(map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}), []string{"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip or none"}, ""},
		{"timeout", endpoint(map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}), []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "milliseconds"}, ""},
		{"sampler", endpoint(map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}), []string{"OTEL_TRACES_SAMPLER", "parentbased_always_on"}, ""},
		{"ratio above 1", endpoint(map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}), []string{"OTEL_TRACES_SAMPLER_ARG", "0 to 1"}, ""},
		{"ratio for a sampler without one", endpoint(map[string]string{"OTEL_TRACES_SAMPLER_ARG": "0.5"}), []string{"OTEL_TRACES_SAMPLER_ARG", "takes no ratio"}, ""},
		{"exporter", endpoint(map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}), []string{"OTEL_TRACES_EXPORTER", "otlp"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(nil, func(k string) string { return tt.env[k] }, io.Discard)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, f := range tt.fragments {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q lacks %q", err, f)
				}
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q repeats a secret", err)
			}
		})
	}
}
