package migrations

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestList(t *testing.T) {
	got, err := List("test", fstest.MapFS{"10_c.sql": {}, "2_b.sql": {}, "0001_a.sql": {}, "notes.txt": {}})
	if err != nil {
		t.Fatal(err)
	}
	// By number, not by name: "10_c" after "2_b".
	want := []File{{1, "0001_a.sql"}, {2, "2_b.sql"}, {10, "10_c.sql"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if _, err := List("test", fstest.MapFS{"2147483647_a.sql": {}}); err != nil {
		t.Errorf("the largest integer version: %v", err)
	}
	for _, tt := range []struct {
		files fstest.MapFS
		want  string
	}{
		{fstest.MapFS{"2147483648_a.sql": {}}, "positive number"}, // past PostgreSQL's integer
		{fstest.MapFS{"0_a.sql": {}}, "positive number"},
		{fstest.MapFS{"a_b.sql": {}}, "positive number"},
		{fstest.MapFS{"0001.sql": {}}, "underscore"},
		{fstest.MapFS{"0001_a.sql": {}, "1_b.sql": {}}, "share version 1"},
	} {
		if _, err := List("test", tt.files); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("List(%v) = %v, want an error mentioning %q", tt.files, err, tt.want)
		}
	}
}
