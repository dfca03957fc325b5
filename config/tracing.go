package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

// Tracing is the export of OpenTelemetry traces, from the standard OTEL_*
// variables. URL empty: traces are off.
type Tracing struct {
	URL     string            // where spans are sent (the traces endpoint)
	Headers map[string]string // sent with every export; may hold an API key
	Timeout time.Duration
	Gzip    bool
	// Resource describes this server in every trace: service.name (and
	// whatever OTEL_RESOURCE_ATTRIBUTES adds).
	Resource map[string]string
	// Sampler is one of the OpenTelemetry specification's sampler names;
	// SamplerArg is the ratio of the traceidratio ones.
	Sampler    string
	SamplerArg float64
}

// tracingSettings are the OTEL_* rows of the settings table.
func tracingSettings() []setting {
	return []setting{
		{
			env: "OTEL_EXPORTER_OTLP_ENDPOINT", flag: "otel-endpoint", def: "",
			help: "OTLP/HTTP collector base URL; traces go to its /v1/traces (empty: no traces)",
			doc:  "OpenTelemetry collector's OTLP/HTTP base URL, e.g. `http://localhost:4318`: traces go to its `/v1/traces` (see [Traces](#traces)). Empty: no traces",
		},
		{
			env: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", flag: "otel-traces-endpoint", def: "",
			help: "the traces endpoint itself, used as it is (wins over OTEL_EXPORTER_OTLP_ENDPOINT)",
			doc:  "the traces endpoint itself, used as it is; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`",
		},
		{
			env: "OTEL_EXPORTER_OTLP_HEADERS", flag: "otel-headers", def: "",
			help: "headers for the collector, key=value,… (values URL-encoded); a secret",
			doc:  "headers sent to the collector, `key=value,…` with URL-encoded values (an API key: a secret, never logged); `OTEL_EXPORTER_OTLP_TRACES_HEADERS` wins when set",
		},
		{
			env: "OTEL_EXPORTER_OTLP_PROTOCOL", flag: "otel-protocol", def: "http/protobuf",
			help: "http/protobuf, the only protocol this server exports with",
			doc:  "`http/protobuf`, the only one this server speaks (no gRPC); `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` wins when set",
		},
		{
			env: "OTEL_EXPORTER_OTLP_COMPRESSION", flag: "otel-compression", def: "none",
			help: "gzip or none",
			doc:  "`gzip` or `none`; `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION` wins when set",
		},
		{
			env: "OTEL_EXPORTER_OTLP_TIMEOUT", flag: "otel-timeout", def: "10000",
			help: "milliseconds an export may take, retries included",
			doc:  "milliseconds one export may take, its retries included; `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` wins when set",
		},
		{
			env: "OTEL_SERVICE_NAME", flag: "otel-service-name", def: "",
			help:         "service.name of the traces (default: the product's name)",
			doc:          "`service.name` of the traces",
			shownDefault: "the product's name",
		},
		{
			env: "OTEL_RESOURCE_ATTRIBUTES", flag: "otel-resource-attributes", def: "",
			help: "more resource attributes, key=value,… (values URL-encoded)",
			doc:  "more attributes of the traces' resource, `key=value,…` with URL-encoded values, e.g. `deployment.environment.name=production`",
		},
		{
			env: "OTEL_TRACES_SAMPLER", flag: "otel-traces-sampler", def: "parentbased_always_on",
			help: "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
			doc:  "`always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off` or `parentbased_traceidratio`",
		},
		{
			env: "OTEL_TRACES_SAMPLER_ARG", flag: "otel-traces-sampler-arg", def: "",
			help:         "the ratio (0 to 1) of the traceidratio samplers; default 1",
			doc:          "the ratio, 0 to 1, of the `traceidratio` samplers",
			shownDefault: "`1`",
		},
		{
			env: "OTEL_TRACES_EXPORTER", flag: "otel-traces-exporter", def: "otlp",
			help: "otlp, or none to send no traces",
			doc:  "`otlp`, or `none` to send no traces whatever the endpoint says",
		},
		{
			env: "OTEL_SDK_DISABLED", flag: "otel-sdk-disabled", def: "false",
			help: "true turns traces off",
			doc:  "`true` turns traces off",
		},
	}
}

// loadTracing reads the OTEL_* settings; getenv gives the per-signal
// variants (OTEL_EXPORTER_OTLP_TRACES_*), which win over the general ones
// as the OpenTelemetry specification says.
func loadTracing(get, getenv func(string) string, errs *[]error) Tracing {
	bad := func(format string, args ...any) { *errs = append(*errs, fmt.Errorf(format, args...)) }
	signal := func(env string) (string, string) {
		traces := strings.Replace(env, "OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_", 1)
		if v := strings.TrimSpace(getenv(traces)); v != "" {
			return v, traces
		}
		return get(env), env
	}
	disabled := boolSetting(get, "OTEL_SDK_DISABLED", errs)
	switch exporter := strings.ToLower(get("OTEL_TRACES_EXPORTER")); exporter {
	case "otlp", "":
	case "none":
		disabled = true
	default:
		bad("OTEL_TRACES_EXPORTER %q is not supported; use otlp, or none for no traces", exporter)
	}

	var t Tracing
	endpoint, endpointEnv := get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	if endpoint == "" {
		if base := get("OTEL_EXPORTER_OTLP_ENDPOINT"); base != "" {
			endpoint, endpointEnv = strings.TrimSuffix(base, "/")+"/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT"
		}
	}
	if endpoint == "" || disabled {
		return Tracing{}
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("%s %q is not an http(s) URL; use e.g. http://localhost:4318", endpointEnv, endpoint)
	} else if u.User != nil {
		bad("%s must not hold credentials; send them as OTEL_EXPORTER_OTLP_HEADERS", endpointEnv)
	}
	t.URL = endpoint

	switch protocol, env := signal("OTEL_EXPORTER_OTLP_PROTOCOL"); protocol {
	case "http/protobuf", "":
	case "grpc":
		bad("%s=grpc: this server exports traces over OTLP/HTTP only; set http/protobuf and point the endpoint at the collector's HTTP port (4318)", env)
	default:
		bad("%s %q is not supported; use http/protobuf", env, protocol)
	}
	headers, env := signal("OTEL_EXPORTER_OTLP_HEADERS")
	if h, err := keyValueList(headers); err != nil {
		// The values may be secrets: the message names the key alone.
		bad("%s: %v; write key=value pairs separated by commas, with URL-encoded values", env, err)
	} else if err := checkHeaders(h); err != nil {
		bad("%s: %v", env, err)
	} else {
		t.Headers = h
	}
	switch compression, env := signal("OTEL_EXPORTER_OTLP_COMPRESSION"); compression {
	case "gzip":
		t.Gzip = true
	case "none", "":
	default:
		bad("%s %q is not supported; use gzip or none", env, compression)
	}
	timeout, env := signal("OTEL_EXPORTER_OTLP_TIMEOUT")
	if ms, err := strconv.Atoi(timeout); err != nil || ms <= 0 {
		bad("%s %q is not a positive number of milliseconds; use e.g. 10000", env, timeout)
	} else {
		t.Timeout = time.Duration(ms) * time.Millisecond
	}

	attrs, err := keyValueList(get("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		bad("OTEL_RESOURCE_ATTRIBUTES: %v; write key=value pairs separated by commas, with URL-encoded values", err)
	}
	t.Resource = map[string]string{"service.name": product.Name}
	for k, v := range attrs {
		t.Resource[k] = v
	}
	if name := get("OTEL_SERVICE_NAME"); name != "" {
		t.Resource["service.name"] = name
	}

	t.Sampler = get("OTEL_TRACES_SAMPLER")
	switch t.Sampler {
	case "always_on", "always_off", "parentbased_always_on", "parentbased_always_off", "traceidratio", "parentbased_traceidratio":
	default:
		bad("OTEL_TRACES_SAMPLER %q is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio", t.Sampler)
	}
	t.SamplerArg = 1
	if arg := get("OTEL_TRACES_SAMPLER_ARG"); arg != "" {
		ratio, err := strconv.ParseFloat(arg, 64)
		switch {
		case err != nil || ratio < 0 || ratio > 1:
			bad("OTEL_TRACES_SAMPLER_ARG %q is not a ratio from 0 to 1; use e.g. 0.1 to keep a tenth of the traces", arg)
		case !strings.HasSuffix(t.Sampler, "traceidratio"):
			bad("OTEL_TRACES_SAMPLER_ARG is set but OTEL_TRACES_SAMPLER %q takes no ratio; use traceidratio or parentbased_traceidratio, or unset the ratio", t.Sampler)
		default:
			t.SamplerArg = ratio
		}
	}
	return t
}

// checkHeaders refuses what HTTP cannot send, at start-up rather than at
// every export: a name that is not a token, or a value with a control
// character (a URL-encoded line break decodes to one). Errors name the
// key alone.
func checkHeaders(h map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if strings.IndexFunc(k, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
			return fmt.Errorf("%q is not a header name; use letters, digits and -", k)
		}
		if strings.IndexFunc(h[k], func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
			return fmt.Errorf("the value of %q holds a control character (a line break?), which a header cannot", k)
		}
	}
	return nil
}

// isTokenChar says whether r may be in an HTTP token (RFC 9110, 5.6.2).
func isTokenChar(r rune) bool {
	return r < 0x7f && r > ' ' && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
}

// keyValueList reads the W3C Baggage-like list of the OTEL_* variables:
// key=value pairs separated by commas, values URL-encoded. An error names
// the pair's key, never its value.
func keyValueList(s string) (map[string]string, error) {
	out := map[string]string{}
	for pair := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("an entry (#%d) is not key=value", len(out)+1)
		}
		value, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("the value of %q is not URL-encoded", k)
		}
		out[k] = value
	}
	return out, nil
}
