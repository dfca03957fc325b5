package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadmeIsCurrent keeps README.md's generated sections in step with
// the code they are generated from.
func TestReadmeIsCurrent(t *testing.T) {
	file, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(file)
	want, err := generate(got)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	all, err := sections()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		t.Run(s.name, func(t *testing.T) {
			wantFrom, wantTo, err := bounds(want, s.name)
			if err != nil {
				t.Fatal(err)
			}
			gotFrom, gotTo, err := bounds(got, s.name)
			if err != nil {
				t.Fatal(err)
			}
			// Line by line, so that the diff names the rows that differ.
			lines := func(s string) []string { return strings.Split(s, "\n") }
			if diff := cmp.Diff(lines(want[wantFrom:wantTo]), lines(got[gotFrom:gotTo])); diff != "" {
				t.Errorf("README.md's %s section is stale (-want +got); run `go generate ./...`:\n%s", s.name, diff)
			}
		})
	}
	if want != got && !t.Failed() {
		t.Errorf("README.md differs from what go generate writes outside the sections' text; run `go generate ./...`:\n%s", cmp.Diff(want, got))
	}
}

// TestSplice: only the text between the markers changes, and a section
// whose markers are missing, repeated or reversed is an error.
func TestSplice(t *testing.T) {
	const start, end = "<!-- config:start -->", "<!-- config:end -->"
	for _, tc := range []struct {
		name, readme, want, wantErr string
	}{
		{
			name:   "replaced",
			readme: "before\n" + start + "\nold\n" + end + "\nafter\n",
			want:   "before\n" + start + "\nnew\n" + end + "\nafter\n",
		},
		{
			name:   "empty section",
			readme: start + end,
			want:   start + "\nnew\n" + end,
		},
		{name: "no start", readme: "a\n" + end + "\n", wantErr: "found it 0 times"},
		{name: "no end", readme: "a\n" + start + "\nold\n", wantErr: "found it 0 times"},
		{name: "twice", readme: start + end + start + end, wantErr: "found it 2 times"},
		{name: "reversed", readme: end + "\n" + start, wantErr: "comes before"},
		{name: "another section's markers", readme: "<!-- tools:start -->\n<!-- tools:end -->", wantErr: "found it 0 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splice(tc.readme, "config", "new\n")
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("splice(%q) = %q, %v; want an error saying %q", tc.readme, got, err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("splice(%q): %v", tc.readme, err)
			case got != tc.want:
				t.Errorf("splice(%q) = %q, want %q", tc.readme, got, tc.want)
			}
		})
	}
}
