package app

import (
	"bytes"
	"slices"
	"strings"
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

func TestBenchDatabaseFlag(t *testing.T) {
	for _, tt := range []struct {
		url     string
		wantErr string // "" for none
	}{
		{url: ""},
		{url: "postgres://bench:s3cret@db.example:5432/postgres?sslmode=require"},
		{url: "postgresql://localhost/kanban"},
		{url: "./data/kanban.db", wantErr: "postgres://"},
		{url: "sqlite:/data/kanban.db", wantErr: "postgres://"},
		{url: "mysql://bench:s3cret@db/x", wantErr: "postgres://"},
		{url: "postgres://bench:s3cret@db.example:notaport/postgres", wantErr: "not a usable PostgreSQL URL"},
		{url: "postgres://bench:s3cret@db.example/postgres?sslmode=sometimes", wantErr: "not a usable PostgreSQL URL"},
	} {
		var stderr bytes.Buffer
		o, err := parseBenchFlags([]string{"-database", tt.url}, &stderr)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("-database %q: %v; want it accepted", tt.url, err)
		case tt.wantErr == "" && o.Database != tt.url:
			t.Errorf("-database %q gave Database %q", tt.url, o.Database)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("-database %q: error %v; want one saying %q", tt.url, err, tt.wantErr)
		}
		// The URL may hold a password: no message repeats it.
		if err != nil && strings.Contains(err.Error()+stderr.String(), "s3cret") {
			t.Errorf("-database %q: the error shows the password: %v %s", tt.url, err, stderr.String())
		}
	}
}

// -h describes -database without a default to show, and says what
// happens to the database.
func TestBenchHelpDescribesTheDatabase(t *testing.T) {
	var stderr bytes.Buffer
	if _, err := parseBenchFlags([]string{"-h"}, &stderr); err == nil {
		t.Fatal("-h gave no error; want flag.ErrHelp")
	}
	for _, want := range []string{"-database", "CREATE DATABASE", "CREATEDB", loadtest.BenchDatabasePrefix, "drops it", loadtest.PrefixReplicas} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, stderr.String())
		}
	}
}
