package deploy_test

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/app"
)

// TestFlyPostgresToml checks deploy/fly.postgres.toml, the configuration
// of two Machines or more on PostgreSQL, against the Dockerfile, the
// commands the binary has, and the single-Machine fly.toml it differs
// from only where it must.
func TestFlyPostgresToml(t *testing.T) {
	doc, err := parseTOML(readRepoFile(t, "deploy/fly.postgres.toml"))
	if err != nil {
		t.Fatalf("deploy/fly.postgres.toml: %v", err)
	}

	t.Run("no volume", func(t *testing.T) {
		if m := doc.all("mounts"); len(m) != 0 {
			t.Errorf("[[mounts]] at line %d: a volume attaches to one Machine, and the data lives in PostgreSQL", m[0].Line)
		}
	})

	t.Run("dockerfile", func(t *testing.T) {
		// flyctl resolves it relative to the configuration file's folder.
		rel, _ := oneTable(t, doc, "build", false).Keys["dockerfile"].(string)
		if _, err := os.Stat(filepath.Join("..", "deploy", rel)); err != nil || filepath.Clean(filepath.Join("deploy", rel)) != "Dockerfile" {
			t.Errorf("[build] dockerfile = %q does not name the repository's Dockerfile from deploy/ (%v)", rel, err)
		}
	})

	t.Run("release command migrates", func(t *testing.T) {
		stages := loadStages(t)
		entry, ok := stages[len(stages)-1].last("ENTRYPOINT")
		if !ok {
			t.Fatal("the Dockerfile's final stage has no ENTRYPOINT")
		}
		argv, err := execForm(entry.Args)
		if err != nil || len(argv) != 1 {
			t.Fatalf("ENTRYPOINT %s: want the binary alone in exec form (%v)", entry.Args, err)
		}
		deployTab := oneTable(t, doc, "deploy", false)
		release, _ := deployTab.Keys["release_command"].(string)
		if want := argv[0] + " migrate"; release != want {
			t.Errorf("[deploy] release_command = %q, want %q", release, want)
		}
		var help bytes.Buffer
		app.Run(context.Background(), "test", []string{"help"}, func(string) string { return "" }, nil, &help, &help)
		if !strings.Contains(help.String(), " migrate ") {
			t.Errorf("the binary lists no migrate command:\n%s", help.String())
		}
		if s := deployTab.Keys["strategy"]; s != "rolling" {
			t.Errorf("[deploy] strategy = %#v, want \"rolling\": one Machine at a time, the others serving", s)
		}
	})

	t.Run("env", func(t *testing.T) {
		// As on one Machine, but DATABASE_URL is a secret (it holds a
		// password): fly mpg attach sets it.
		want := maps.Clone(wantFlyEnv)
		delete(want, "DATABASE_URL")
		got := map[string]string{}
		for k, v := range oneTable(t, doc, "env", false).Keys {
			got[k], _ = v.(string)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("[env] (-want +got):\n%s", diff)
		}
	})

	t.Run("metrics", func(t *testing.T) { checkMetrics(t, doc) })

	t.Run("several Machines, always on, checked", func(t *testing.T) {
		svc := oneTable(t, doc, "http_service", false)
		got := map[string]any{}
		for _, k := range []string{"internal_port", "force_https", "auto_stop_machines", "min_machines_running"} {
			got[k] = svc.Keys[k]
		}
		want := map[string]any{"internal_port": int64(8080), "force_https": true, "auto_stop_machines": "off", "min_machines_running": int64(2)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("[http_service] (-want +got):\n%s", diff)
		}
		found := false
		for _, c := range doc.all("http_service.checks") {
			found = found || c.Keys["path"] == "/healthz"
		}
		if !found {
			t.Error("no [[http_service.checks]] on /healthz: a rolling deploy would not wait for each Machine")
		}
	})
}
