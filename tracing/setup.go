package tracing

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Config is what Start needs: where spans go, what the resource says, and
// which traces to keep.
type Config struct {
	Exporter ExporterConfig
	Resource map[string]string // service.name and more
	// Sampler is an OpenTelemetry sampler name (OTEL_TRACES_SAMPLER);
	// SamplerArg the ratio of the traceidratio ones.
	Sampler    string
	SamplerArg float64
}

// Start returns the server's Tracer and the function that sends what is
// left at shutdown, or a nil Tracer and a no-op when cfg names no
// endpoint: traces are off, and cost nothing.
func Start(cfg Config) (*Tracer, func(context.Context) error, error) {
	if cfg.Exporter.URL == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	sampler, err := samplerOf(cfg.Sampler, cfg.SamplerArg)
	if err != nil {
		return nil, nil, err
	}
	attrs := make([]attribute.KeyValue, 0, len(cfg.Resource))
	for _, k := range slices.Sorted(maps.Keys(cfg.Resource)) {
		attrs = append(attrs, attribute.String(k, cfg.Resource[k]))
	}
	provider := sdktrace.NewTracerProvider(
		// Spans leave in batches, off the requests' path.
		sdktrace.WithBatcher(NewExporter(cfg.Exporter)),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sampler),
		sdktrace.WithRawSpanLimits(spanLimits()),
	)
	return New(provider), provider.Shutdown, nil
}

// maxAttributeLength is the longest attribute value a span keeps, in
// characters: longer ones are cut.
const maxAttributeLength = 256

// spanLimits are the SDK's defaults, with attribute values cut at
// maxAttributeLength: the defaults leave them unbounded, and while the
// collector is away the batcher holds up to 2,048 spans.
func spanLimits() sdktrace.SpanLimits {
	return sdktrace.SpanLimits{
		AttributeValueLengthLimit:   maxAttributeLength,
		AttributeValueDepthLimit:    sdktrace.DefaultAttributeValueDepthLimit,
		AttributeCountLimit:         sdktrace.DefaultAttributeCountLimit,
		EventCountLimit:             sdktrace.DefaultEventCountLimit,
		LinkCountLimit:              sdktrace.DefaultLinkCountLimit,
		AttributePerEventCountLimit: sdktrace.DefaultAttributePerEventCountLimit,
		AttributePerLinkCountLimit:  sdktrace.DefaultAttributePerLinkCountLimit,
	}
}

// samplerOf is the SDK's sampler for an OTEL_TRACES_SAMPLER name.
func samplerOf(name string, ratio float64) (sdktrace.Sampler, error) {
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_on", "":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("tracing: unknown sampler %q", name)
}
