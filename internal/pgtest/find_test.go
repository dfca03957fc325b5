package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestFindBinPicksTheNewestComplete(t *testing.T) {
	root := t.TempDir()
	mk := func(version string, programs ...string) {
		bin := filepath.Join(root, version, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range programs {
			if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := []string{"initdb", "pg_ctl", "postgres"}
	mk("9.6", all...)
	mk("15", all...)
	mk("16", "initdb", "pg_ctl") // no server: a client-only install
	mk("notes")
	// 17's initdb cannot be run.
	mk("17", "pg_ctl", "postgres")
	if err := os.WriteFile(filepath.Join(root, "17", "bin", "initdb"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	got, err := findBin(root)
	if want := filepath.Join(root, "15", "bin"); got != want || err != nil {
		t.Fatalf("findBin = %q, %v; want %q", got, err, want)
	}
	if got, err := findBin(filepath.Join(root, "missing")); err == nil {
		t.Fatalf("findBin(missing) = %q, want an error", got)
	}
	if got, err := findBin(filepath.Join(root, "notes")); err == nil {
		t.Fatalf("findBin(empty) = %q, want an error", got)
	}
}

// tb records what requireBin does with a test; Skipf and Fatalf end the
// goroutine, as the real ones do.
type tb struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *tb) Helper() {}
func (r *tb) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *tb) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func requireBinIn(root string) *tb {
	r := &tb{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		requireBin(r, root)
	}()
	<-done
	return r
}

// TestMissingBinariesSkipOrFail points the search at a folder with no
// PostgreSQL: the test is skipped with how to install it, or fails under
// CI=true.
func TestMissingBinariesSkipOrFail(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "postgresql")

	t.Setenv("CI", "")
	r := requireBinIn(missing)
	if !r.skipped || r.failed {
		t.Fatalf("without CI: skipped=%v failed=%v, want a skip", r.skipped, r.failed)
	}
	t.Logf("skip message: %s", r.msg)
	if !strings.Contains(r.msg, "apt-get install -y postgresql") || !strings.Contains(r.msg, missing) {
		t.Errorf("the skip message does not say what is missing and how to install it: %s", r.msg)
	}

	t.Setenv("CI", "true")
	r = requireBinIn(missing)
	if !r.failed || r.skipped {
		t.Fatalf("with CI=true: skipped=%v failed=%v, want a failure", r.skipped, r.failed)
	}
	if !strings.Contains(r.msg, "apt-get install -y postgresql") {
		t.Errorf("the failure does not say how to install PostgreSQL: %s", r.msg)
	}
}

func TestDBNamePart(t *testing.T) {
	for in, want := range map[string]string{
		"TestX":                 "testx",
		"TestX/sub test#01":     "testx_sub_test_01",
		strings.Repeat("a", 80): strings.Repeat("a", 40),
	} {
		if got := dbNamePart(in); got != want {
			t.Errorf("dbNamePart(%q) = %q, want %q", in, got, want)
		}
	}
}
