package app

import (
	"bytes"
	"slices"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/internal/loadtest"
)

func TestBenchFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr bool
		want    []string
	}{
		{args: nil, want: loadtest.ServerScenarios()},
		{args: []string{"-scenarios", "get_board, mix,bare,mix"}, want: []string{loadtest.ScenarioGetBoard, loadtest.ScenarioMix}},
		{args: []string{"-scenarios", "bare"}, want: nil},
		{args: []string{"-scenarios", "get_boards"}, wantErr: true},
		{args: []string{"-duration", "0s"}, wantErr: true},
		{args: []string{"-concurrency", "0"}, wantErr: true},
		{args: []string{"extra"}, wantErr: true},
	} {
		o, err := parseBenchFlags(tt.args, &bytes.Buffer{})
		if (err != nil) != tt.wantErr {
			t.Errorf("parseBenchFlags(%q) error %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if err == nil && !slices.Equal(o.Scenarios, tt.want) {
			t.Errorf("parseBenchFlags(%q) scenarios %q, want %q", tt.args, o.Scenarios, tt.want)
		}
	}
}
