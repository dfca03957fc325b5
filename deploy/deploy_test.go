// Package deploy_test checks the deployment files at the repository root
// (Dockerfile, fly.toml and .dockerignore) against each other and against
// how the server is run. It reads them with small purpose-built readers for
// the subset of each format those files use, so it needs no Docker and no
// TOML module; a construct the readers do not know fails the test rather
// than being skipped.
package deploy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kanban-mcp/kanban-mcp/internal/product"
)

// What the image and the Fly app must agree on.
const (
	binary  = "/kanban-mcp"
	port    = "8080"
	dataDir = "/data"
)

// wantFlyEnv is the exact [env] table of fly.toml.
var wantFlyEnv = map[string]string{
	"LISTEN_ADDR":          ":8080",
	"DATABASE_URL":         "/data/kanban.db",
	"BASE_URL":             "https://kanban-mcp.fly.dev",
	"AUTH_CHALLENGE":       "auto",
	"TRUSTED_PROXY_HEADER": "Fly-Client-IP",
	"METRICS_ADDR":         ":9091",
}

// checkMetrics checks that the [metrics] table of a fly configuration
// scrapes the private listener that METRICS_ADDR in its [env] opens, and
// that the listener is not the public port.
func checkMetrics(t *testing.T, doc tomlDoc) {
	t.Helper()
	tab := oneTable(t, doc, "metrics", false)
	addr, _ := oneTable(t, doc, "env", false).Keys["METRICS_ADDR"].(string)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("[env] METRICS_ADDR = %q: %v", addr, err)
	}
	if got, want := fmt.Sprint(tab.Keys["port"]), port; got != want {
		t.Errorf("[metrics] port = %s, want METRICS_ADDR's %s", got, want)
	}
	if tab.Keys["path"] != "/metrics" {
		t.Errorf("[metrics] path = %#v, want \"/metrics\"", tab.Keys["path"])
	}
	if public := fmt.Sprint(oneTable(t, doc, "http_service", false).Keys["internal_port"]); public == port {
		t.Errorf("METRICS_ADDR's port %s is the public internal_port: /metrics is never public", port)
	}
}

// readRepoFile reads a file at the repository root; go test runs in the
// package directory, one level below.
func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// Dockerfile reader

// instruction is one Dockerfile instruction with its continuation lines
// joined and its comments removed.
type instruction struct {
	Line int    // line the instruction starts on
	Cmd  string // keyword, upper-cased: "FROM", "RUN", ...
	Args string // everything after the keyword
}

func (in instruction) String() string { return fmt.Sprintf("line %d: %s %s", in.Line, in.Cmd, in.Args) }

var (
	// Docker's line continuation: the escape character, then only blanks.
	continuation = regexp.MustCompile(`\\[ \t]*$`)
	// A parser directive that changes the escape character, which this
	// reader does not follow.
	escapeDirective = regexp.MustCompile(`(?i)^#\s*escape\s*=`)
	keyword         = regexp.MustCompile(`^[A-Za-z]+$`)
)

// parseDockerfile splits src into instructions. Lines whose first non-blank
// character is # are comments, also in the middle of a continued
// instruction, as are blank lines.
func parseDockerfile(src string) ([]instruction, error) {
	var (
		out   []instruction
		buf   strings.Builder
		start int
		open  bool // the instruction in buf continues on the next line
	)
	flush := func() error {
		text := strings.TrimSpace(buf.String())
		buf.Reset()
		open = false
		kw, args := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			kw, args = text[:i], text[i+1:]
		}
		if !keyword.MatchString(kw) {
			return fmt.Errorf("line %d: %q is not an instruction", start, kw)
		}
		out = append(out, instruction{Line: start, Cmd: strings.ToUpper(kw), Args: strings.TrimSpace(args)})
		return nil
	}
	for i, line := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			if len(out) == 0 && !open && escapeDirective.MatchString(trimmed) {
				return nil, fmt.Errorf("line %d: the escape directive is not supported", i+1)
			}
			continue
		}
		if !open {
			start = i + 1
		}
		if loc := continuation.FindStringIndex(line); loc != nil {
			buf.WriteString(line[:loc[0]])
			open = true
			continue
		}
		buf.WriteString(line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if open {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stage is one FROM and the instructions up to the next FROM.
type stage struct {
	Index int
	Image string
	Name  string // the AS name, lower-cased; "" if none
	Line  int
	Body  []instruction
}

func splitStages(ins []instruction) ([]stage, error) {
	var stages []stage
	for _, in := range ins {
		if in.Cmd == "FROM" {
			_, rest := splitFlags(in.Args)
			f := strings.Fields(rest)
			st := stage{Index: len(stages), Line: in.Line}
			switch {
			case len(f) == 1:
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				st.Name = strings.ToLower(f[2])
			default:
				return nil, fmt.Errorf("%v: want FROM [--flags] image [AS name]", in)
			}
			st.Image = f[0]
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.Cmd == "ARG" {
				continue
			}
			return nil, fmt.Errorf("%v: instruction before the first FROM", in)
		}
		stages[len(stages)-1].Body = append(stages[len(stages)-1].Body, in)
	}
	return stages, nil
}

func (s stage) String() string {
	if s.Name != "" {
		return fmt.Sprintf("stage %d %q (FROM %s, line %d)", s.Index, s.Name, s.Image, s.Line)
	}
	return fmt.Sprintf("stage %d (FROM %s, line %d)", s.Index, s.Image, s.Line)
}

// all returns the stage's instructions with keyword cmd.
func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.Body {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// last returns the stage's last instruction with keyword cmd, the one that
// takes effect for USER, ENTRYPOINT, CMD and HEALTHCHECK.
func (s stage) last(cmd string) (instruction, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return instruction{}, false
	}
	return all[len(all)-1], true
}

// env returns the variables the stage's ENV instructions set.
func (s stage) env() (map[string]string, error) {
	env := map[string]string{}
	for _, in := range s.all("ENV") {
		kv, err := parseEnv(in.Args)
		if err != nil {
			return nil, fmt.Errorf("%v: %v", in, err)
		}
		for k, v := range kv {
			env[k] = v
		}
	}
	return env, nil
}

// labels returns the labels the stage's LABEL instructions set. LABEL takes
// only key=value pairs, quoted as ENV's are.
func (s stage) labels() (map[string]string, error) {
	labels := map[string]string{}
	for _, in := range s.all("LABEL") {
		words, err := shellWords(in.Args)
		if err != nil {
			return nil, fmt.Errorf("%v: %v", in, err)
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("%v: %q is not key=value", in, w)
			}
			labels[k] = v
		}
	}
	return labels, nil
}

// splitFlags takes the leading --name=value flags off an instruction's
// arguments. A flag without a value is "true".
func splitFlags(args string) (map[string]string, string) {
	flags := map[string]string{}
	rest := strings.TrimSpace(args)
	for strings.HasPrefix(rest, "--") {
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		k, v, ok := strings.Cut(rest[2:end], "=")
		if !ok {
			v = "true"
		}
		flags[strings.ToLower(k)] = v
		rest = strings.TrimSpace(rest[end:])
	}
	return flags, rest
}

// execForm reads a JSON-array (exec form) argument list.
func execForm(args string) ([]string, error) {
	args = strings.TrimSpace(args)
	if !strings.HasPrefix(args, "[") {
		return nil, fmt.Errorf("shell form %q; want exec form [\"...\"] (the final image has no shell)", args)
	}
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		return nil, fmt.Errorf("exec form %q: %v", args, err)
	}
	return argv, nil
}

// copyArgs reads COPY or ADD: flags, sources and destination.
func copyArgs(in instruction) (flags map[string]string, srcs []string, dest string, err error) {
	flags, rest := splitFlags(in.Args)
	var words []string
	if strings.HasPrefix(rest, "[") {
		words, err = execForm(rest)
	} else {
		words, err = shellWords(rest)
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("%v: %v", in, err)
	}
	if len(words) < 2 {
		return nil, nil, "", fmt.Errorf("%v: want at least one source and a destination", in)
	}
	return flags, words[:len(words)-1], words[len(words)-1], nil
}

// shellWords splits s at blanks outside quotes, removing the quotes and
// backslash escapes, as Docker does for ENV and COPY arguments.
func shellWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case '\\':
			inWord = true
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
		case '"', '\'':
			inWord = true
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if c == '"' && s[j] == '\\' && j+1 < len(s) {
					j++
				}
				cur.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated %c quote in %q", c, s)
			}
			i = j
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// parseEnv reads ENV key=value ... or the legacy ENV key value.
func parseEnv(args string) (map[string]string, error) {
	words, err := shellWords(args)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, errors.New("ENV without a variable")
	}
	if !strings.Contains(words[0], "=") {
		key := strings.Fields(args)[0]
		return map[string]string{key: strings.TrimSpace(strings.TrimSpace(args)[len(key):])}, nil
	}
	env := map[string]string{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", w)
		}
		env[k] = v
	}
	return env, nil
}

// loadStages reads and splits ../Dockerfile.
func loadStages(t *testing.T) []stage {
	t.Helper()
	ins, err := parseDockerfile(readRepoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	stages, err := splitStages(ins)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	return stages
}

// builderStage returns the one stage that runs go build.
func builderStage(t *testing.T, stages []stage) (stage, instruction) {
	t.Helper()
	var found []stage
	var build instruction
	for _, s := range stages {
		for _, in := range s.all("RUN") {
			if strings.Contains(in.Args, "go build") {
				found = append(found, s)
				build = in
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("Dockerfile: %d RUN instructions run go build; want exactly 1", len(found))
	}
	return found[0], build
}

// parseUser reads USER uid[:gid].
func parseUser(spec string) (uid, gid string) {
	uid, gid, _ = strings.Cut(strings.TrimSpace(spec), ":")
	return uid, gid
}

// ---------------------------------------------------------------------------
// Dockerfile checks

func TestDockerfile(t *testing.T) {
	stages := loadStages(t)
	final := stages[len(stages)-1]
	builder, build := builderStage(t, stages)

	t.Run("multi-stage", func(t *testing.T) {
		if len(stages) < 2 {
			t.Fatalf("%d FROM stages; want at least 2 (builder and final)", len(stages))
		}
		if builder.Index == final.Index {
			t.Errorf("go build runs in the final %v; want it in a builder stage", final)
		}
		names := map[string]int{}
		for _, s := range stages {
			if s.Name != "" {
				names[s.Name]++
			}
		}
		for name, n := range names {
			if n > 1 {
				t.Errorf("stage name %q is used %d times", name, n)
			}
		}
	})

	t.Run("builder", func(t *testing.T) {
		if !strings.HasPrefix(builder.Image, "golang:1.26") || !strings.Contains(builder.Image, "bookworm") {
			t.Errorf("%v: want a pinned golang:1.26 bookworm image, e.g. golang:1.26-bookworm", builder)
		}
		env, err := builder.env()
		if err != nil {
			t.Fatal(err)
		}
		if env["CGO_ENABLED"] != "0" && !strings.Contains(build.Args, "CGO_ENABLED=0") {
			t.Errorf("%v: CGO_ENABLED is %q; want 0 (static binary, pure-Go SQLite)", builder, env["CGO_ENABLED"])
		}
		for _, want := range []string{"-trimpath", `-ldflags="-s -w"`, "-o " + binary} {
			if !strings.Contains(build.Args, want) {
				t.Errorf("%v: missing %s", build, want)
			}
		}
	})

	t.Run("module download is cached before the source is copied", func(t *testing.T) {
		// Positions in the builder's body of the three steps, in the order
		// they must come.
		steps := []struct {
			name  string
			match func(instruction) bool
		}{
			{"COPY go.mod go.sum", func(in instruction) bool {
				if in.Cmd != "COPY" {
					return false
				}
				_, srcs, _, err := copyArgs(in)
				return err == nil && contains(srcs, "go.mod") && contains(srcs, "go.sum") && !contains(srcs, ".")
			}},
			{"RUN go mod download", func(in instruction) bool {
				return in.Cmd == "RUN" && strings.Contains(in.Args, "go mod download")
			}},
			{"COPY . (the source)", func(in instruction) bool {
				if in.Cmd != "COPY" {
					return false
				}
				_, srcs, _, err := copyArgs(in)
				return err == nil && (contains(srcs, ".") || contains(srcs, "./"))
			}},
			{"RUN go build", func(in instruction) bool { return in == build }},
		}
		prev := -1
		for _, step := range steps {
			at := -1
			for i, in := range builder.Body {
				if step.match(in) {
					at = i
					break
				}
			}
			switch {
			case at < 0:
				t.Errorf("%v: no %s", builder, step.name)
			case at < prev:
				t.Errorf("%v: %s comes too early; want COPY go.mod go.sum, go mod download, COPY ., go build in that order", builder.Body[at], step.name)
			default:
				prev = at
			}
		}
	})

	t.Run("final image is static and shell-free", func(t *testing.T) {
		allowed := []string{"gcr.io/distroless/static", "scratch"}
		ok := false
		for _, prefix := range allowed {
			if final.Image == prefix || strings.HasPrefix(final.Image, prefix+"-") || strings.HasPrefix(final.Image, prefix+":") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("final %v; want one of %q", final, allowed)
		}
		if final.Image == "scratch" {
			// scratch has nothing: the server needs CA certificates for
			// the issuer's JWKS and a passwd entry for its user.
			for _, need := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/passwd"} {
				found := false
				for _, in := range final.all("COPY") {
					if _, srcs, _, err := copyArgs(in); err == nil && contains(srcs, need) {
						found = true
					}
				}
				if !found {
					t.Errorf("final %v: FROM scratch without COPY of %s", final, need)
				}
			}
		}
		for _, in := range final.all("RUN") {
			t.Errorf("%v: the final image has no shell to run it", in)
		}
	})

	t.Run("runs as a non-root user that owns the data directory", func(t *testing.T) {
		// The design: no privileged entrypoint. The final stage's USER is
		// a numeric non-root uid:gid, Fly's init chowns the volume mount to
		// that USER, and the image's own /data is copied with
		// --chown=<the same uid:gid> for plain Docker.
		in, ok := final.last("USER")
		if !ok {
			t.Fatalf("final %v: no USER; the image would run as root", final)
		}
		uid, gid := parseUser(in.Args)
		for _, id := range []struct{ what, v string }{{"uid", uid}, {"gid", gid}} {
			n, err := strconv.Atoi(id.v)
			if err != nil || n <= 0 {
				t.Errorf("%v: %s %q; want a numeric id other than 0 (root)", in, id.what, id.v)
			}
		}
		var chowned []string
		for _, c := range final.all("COPY") {
			flags, _, dest, err := copyArgs(c)
			if err != nil {
				t.Fatal(err)
			}
			if path.Clean(dest) == dataDir {
				chowned = append(chowned, flags["chown"])
			}
		}
		if diff := cmp.Diff([]string{strings.TrimSpace(in.Args)}, chowned); diff != "" {
			t.Errorf("COPY --chown of %s in the final stage, versus USER (-want +got):\n%s", dataDir, diff)
		}
	})

	t.Run("EXPOSE", func(t *testing.T) {
		var got []string
		for _, in := range final.all("EXPOSE") {
			for _, p := range strings.Fields(in.Args) {
				got = append(got, strings.TrimSuffix(p, "/tcp"))
			}
		}
		if diff := cmp.Diff([]string{port}, got); diff != "" {
			t.Errorf("final stage EXPOSE (-want +got):\n%s", diff)
		}
	})

	t.Run("ENV", func(t *testing.T) {
		env, err := final.env()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"LISTEN_ADDR": ":" + port, "DATABASE_URL": dataDir + "/kanban.db"}
		got := map[string]string{}
		for k := range want {
			if v, ok := env[k]; ok {
				got[k] = v
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("final stage ENV defaults (-want +got):\n%s", diff)
		}
	})

	t.Run("exec-form commands run the binary", func(t *testing.T) {
		tests := []struct {
			cmd  string
			want []string
		}{
			{"ENTRYPOINT", []string{binary}},
			{"CMD", []string{"serve"}},
			{"HEALTHCHECK", []string{binary, "healthcheck"}},
		}
		for _, tt := range tests {
			in, ok := final.last(tt.cmd)
			if !ok {
				t.Errorf("final %v: no %s", final, tt.cmd)
				continue
			}
			args := in.Args
			if tt.cmd == "HEALTHCHECK" {
				_, rest := splitFlags(args)
				kw, after, _ := strings.Cut(rest, " ")
				if !strings.EqualFold(kw, "CMD") {
					t.Errorf("%v: want HEALTHCHECK [options] CMD [...]", in)
					continue
				}
				args = after
			}
			got, err := execForm(args)
			if err != nil {
				t.Errorf("%v: %v", in, err)
				continue
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%v (-want +got):\n%s", in, diff)
			}
		}
	})

	t.Run("the image is titled with the product's name", func(t *testing.T) {
		// The Dockerfile cannot read product.Name, so it spells it out and
		// this keeps the two equal.
		labels, err := final.labels()
		if err != nil {
			t.Fatal(err)
		}
		const key = "org.opencontainers.image.title"
		if got, ok := labels[key]; !ok || got != product.Name {
			t.Errorf("final %v: LABEL %s = %q (set: %v); want %q, product.Name", final, key, got, ok, product.Name)
		}
	})

	t.Run("the binary comes from the builder", func(t *testing.T) {
		var got [][]string
		for _, in := range final.all("COPY") {
			flags, srcs, dest, err := copyArgs(in)
			if err != nil {
				t.Fatal(err)
			}
			if dest == binary {
				got = append(got, append([]string{flags["from"]}, srcs...))
			}
		}
		from := builder.Name
		if from == "" {
			from = strconv.Itoa(builder.Index)
		}
		if diff := cmp.Diff([][]string{{from, binary}}, got); diff != "" {
			t.Errorf("COPY to %s in the final stage, as [--from, sources...] (-want +got):\n%s", binary, diff)
		}
	})

	t.Run("COPY --from names an earlier stage", func(t *testing.T) {
		for _, s := range stages {
			for _, in := range s.Body {
				if in.Cmd != "COPY" && in.Cmd != "ADD" {
					continue
				}
				flags, _ := splitFlags(in.Args)
				from, ok := flags["from"]
				if !ok {
					continue
				}
				if !earlierStage(stages[:s.Index], from) {
					t.Errorf("%v: --from=%s is not a stage defined before it", in, from)
				}
			}
		}
	})
}

// earlierStage reports whether ref names one of stages, by name or index.
func earlierStage(stages []stage, ref string) bool {
	for _, s := range stages {
		if strings.EqualFold(ref, s.Name) || ref == strconv.Itoa(s.Index) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// fly.toml reader

// tomlTable is one [table] or one element of an [[array]] of tables.
type tomlTable struct {
	Name  string // dotted header; "" for the top level
	Array bool   // declared with [[...]]
	Line  int
	Keys  map[string]any // string, int64, bool or []any
}

type tomlDoc []*tomlTable

// all returns the tables with the given header, in file order.
func (d tomlDoc) all(name string) []*tomlTable {
	var out []*tomlTable
	for _, t := range d {
		if t.Name == name {
			out = append(out, t)
		}
	}
	return out
}

var (
	bareKey   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	tableName = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
)

// parseTOML reads the TOML subset fly.toml uses: [table] and [[array]]
// headers, bare keys, and values that are strings, integers, booleans or
// one-line arrays of those, with # comments. Anything else is an error.
func parseTOML(src string) (tomlDoc, error) {
	root := &tomlTable{Keys: map[string]any{}}
	doc := tomlDoc{root}
	cur := root
	kinds := map[string]string{} // header -> "table" or "array"
	for i, raw := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		n := i + 1
		line, err := stripTOMLComment(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "["):
			kind, name := "table", ""
			if strings.HasPrefix(line, "[[") && strings.HasSuffix(line, "]]") {
				kind, name = "array", strings.TrimSpace(line[2:len(line)-2])
			} else if strings.HasSuffix(line, "]") {
				name = strings.TrimSpace(line[1 : len(line)-1])
			}
			if !tableName.MatchString(name) {
				return nil, fmt.Errorf("line %d: cannot read header %q", n, line)
			}
			if prev, ok := kinds[name]; ok && (kind == "table" || prev == "table") {
				return nil, fmt.Errorf("line %d: [%s] is declared again", n, name)
			}
			kinds[name] = kind
			cur = &tomlTable{Name: name, Array: kind == "array", Line: n, Keys: map[string]any{}}
			doc = append(doc, cur)
		default:
			key, val, ok := strings.Cut(line, "=")
			key = strings.TrimSpace(key)
			if !ok || !bareKey.MatchString(key) {
				return nil, fmt.Errorf("line %d: want bare_key = value, got %q", n, line)
			}
			v, err := parseTOMLValue(val)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: %v", n, key, err)
			}
			if _, dup := cur.Keys[key]; dup {
				return nil, fmt.Errorf("line %d: %s is set twice", n, key)
			}
			cur.Keys[key] = v
		}
	}
	return doc, nil
}

// stripTOMLComment removes a # comment that is outside strings.
func stripTOMLComment(line string) (string, error) {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == 0 && c == '#':
			return line[:i], nil
		case quote == 0 && (c == '"' || c == '\''):
			if strings.HasPrefix(line[i:], `"""`) || strings.HasPrefix(line[i:], `'''`) {
				return "", errors.New("multi-line strings are not supported")
			}
			quote = c
		case quote == '"' && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		}
	}
	if quote != 0 {
		return "", errors.New("unterminated string")
	}
	return line, nil
}

func parseTOMLValue(s string) (any, error) {
	v, rest, err := scanTOMLValue(s)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(rest) != "" {
		return nil, fmt.Errorf("unexpected %q after the value", rest)
	}
	return v, nil
}

// scanTOMLValue reads one value from the start of s and returns the rest.
func scanTOMLValue(s string) (any, string, error) {
	s = strings.TrimLeft(s, " \t")
	if s == "" {
		return nil, "", errors.New("missing value")
	}
	switch s[0] {
	case '"':
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				v, err := strconv.Unquote(s[:i+1])
				if err != nil {
					return nil, "", fmt.Errorf("string %s: %v", s[:i+1], err)
				}
				return v, s[i+1:], nil
			}
		}
		return nil, "", fmt.Errorf("unterminated string %s", s)
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return nil, "", fmt.Errorf("unterminated string %s", s)
		}
		return s[1 : end+1], s[end+2:], nil
	case '[':
		arr := []any{}
		rest := strings.TrimLeft(s[1:], " \t")
		if strings.HasPrefix(rest, "]") {
			return arr, rest[1:], nil
		}
		for {
			v, r, err := scanTOMLValue(rest)
			if err != nil {
				return nil, "", err
			}
			arr = append(arr, v)
			r = strings.TrimLeft(r, " \t")
			switch {
			case strings.HasPrefix(r, ","):
				rest = strings.TrimLeft(r[1:], " \t")
				if strings.HasPrefix(rest, "]") { // trailing comma
					return arr, rest[1:], nil
				}
			case strings.HasPrefix(r, "]"):
				return arr, r[1:], nil
			default:
				return nil, "", fmt.Errorf("array: want , or ] at %q", r)
			}
		}
	}
	end := strings.IndexAny(s, " \t,]")
	if end < 0 {
		end = len(s)
	}
	switch word := s[:end]; word {
	case "true":
		return true, s[end:], nil
	case "false":
		return false, s[end:], nil
	default:
		n, err := strconv.ParseInt(strings.ReplaceAll(word, "_", ""), 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("unsupported value %q: this reader takes strings, integers, booleans and one-line arrays", word)
		}
		return n, s[end:], nil
	}
}

func loadFlyToml(t *testing.T) tomlDoc {
	t.Helper()
	doc, err := parseTOML(readRepoFile(t, "fly.toml"))
	if err != nil {
		t.Fatalf("fly.toml: %v", err)
	}
	return doc
}

// oneTable returns the only table with header name, failing otherwise.
func oneTable(t *testing.T, doc tomlDoc, name string, array bool) *tomlTable {
	t.Helper()
	all := doc.all(name)
	if len(all) != 1 {
		t.Fatalf("fly.toml: %d [%s] tables; want 1", len(all), name)
	}
	if all[0].Array != array {
		t.Fatalf("fly.toml line %d: [%s] declared with array=%v; want array=%v", all[0].Line, name, all[0].Array, array)
	}
	return all[0]
}

// ---------------------------------------------------------------------------
// fly.toml checks

func TestFlyToml(t *testing.T) {
	doc := loadFlyToml(t)

	t.Run("app and region", func(t *testing.T) {
		for _, key := range []string{"app", "primary_region"} {
			if v, ok := doc[0].Keys[key].(string); !ok || v == "" {
				t.Errorf("top-level %s = %#v; want a non-empty string", key, doc[0].Keys[key])
			}
		}
	})

	tests := []struct {
		table string
		array bool
		want  map[string]any
	}{
		{"mounts", true, map[string]any{
			"source":      "kanban_data",
			"destination": dataDir,
		}},
		{"http_service", false, map[string]any{
			"internal_port":       int64(8080),
			"force_https":         true,
			"auto_stop_machines":  "stop",
			"auto_start_machines": true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			tab := oneTable(t, doc, tt.table, tt.array)
			got := map[string]any{}
			for k := range tt.want {
				if v, ok := tab.Keys[k]; ok {
					got[k] = v
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("[%s] (-want +got):\n%s", tt.table, diff)
			}
		})
	}

	t.Run("metrics", func(t *testing.T) { checkMetrics(t, doc) })

	t.Run("min_machines_running", func(t *testing.T) {
		tab := oneTable(t, doc, "http_service", false)
		if v := tab.Keys["min_machines_running"]; v != int64(0) && v != int64(1) {
			t.Errorf("[http_service] min_machines_running = %#v; want 0 or 1 (one Machine)", v)
		}
	})

	t.Run("health check", func(t *testing.T) {
		var found *tomlTable
		for _, c := range doc.all("http_service.checks") {
			if c.Keys["path"] == "/healthz" {
				found = c
			}
		}
		if found == nil {
			t.Fatal("no [[http_service.checks]] with path = \"/healthz\"")
		}
		if m, _ := found.Keys["method"].(string); !strings.EqualFold(m, "GET") {
			t.Errorf("line %d: method = %#v; want \"GET\"", found.Line, found.Keys["method"])
		}
		for _, key := range []string{"interval", "timeout", "grace_period"} {
			s, _ := found.Keys[key].(string)
			if d, err := time.ParseDuration(s); err != nil || d <= 0 {
				t.Errorf("line %d: %s = %#v; want a duration such as \"10s\"", found.Line, key, found.Keys[key])
			}
		}
	})

	t.Run("env", func(t *testing.T) {
		got := map[string]string{}
		for k, v := range oneTable(t, doc, "env", false).Keys {
			s, ok := v.(string)
			if !ok {
				t.Errorf("[env] %s = %#v; Fly takes only string values", k, v)
			}
			got[k] = s
		}
		if diff := cmp.Diff(wantFlyEnv, got); diff != "" {
			t.Errorf("[env] (-want +got):\n%s", diff)
		}
	})
}

// ---------------------------------------------------------------------------
// Cross-file checks

// TestPortAndPathsAgree checks that the port and the database location are
// the same wherever the two files state them.
func TestPortAndPathsAgree(t *testing.T) {
	stages := loadStages(t)
	final := stages[len(stages)-1]
	doc := loadFlyToml(t)

	dockerEnv, err := final.env()
	if err != nil {
		t.Fatal(err)
	}
	flyEnv := oneTable(t, doc, "env", false).Keys
	listenPort := func(addr any) string {
		s, _ := addr.(string)
		_, p, err := net.SplitHostPort(s)
		if err != nil {
			return fmt.Sprintf("unreadable LISTEN_ADDR %q", s)
		}
		return p
	}
	var exposed []string
	for _, in := range final.all("EXPOSE") {
		for _, p := range strings.Fields(in.Args) {
			exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
		}
	}
	internal := fmt.Sprint(oneTable(t, doc, "http_service", false).Keys["internal_port"])

	gotPorts := map[string]string{
		"Dockerfile EXPOSE":                     strings.Join(exposed, " "),
		"Dockerfile ENV LISTEN_ADDR":            listenPort(dockerEnv["LISTEN_ADDR"]),
		"fly.toml [env] LISTEN_ADDR":            listenPort(flyEnv["LISTEN_ADDR"]),
		"fly.toml [http_service] internal_port": internal,
	}
	wantPorts := map[string]string{}
	for k := range gotPorts {
		wantPorts[k] = port
	}
	if diff := cmp.Diff(wantPorts, gotPorts); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}

	flyDB, _ := flyEnv["DATABASE_URL"].(string)
	mount, _ := oneTable(t, doc, "mounts", true).Keys["destination"].(string)
	gotDirs := map[string]string{
		"Dockerfile ENV DATABASE_URL (its directory)": path.Dir(dockerEnv["DATABASE_URL"]),
		"fly.toml [env] DATABASE_URL (its directory)": path.Dir(flyDB),
		"fly.toml [[mounts]] destination":             mount,
	}
	wantDirs := map[string]string{}
	for k := range gotDirs {
		wantDirs[k] = dataDir
	}
	if diff := cmp.Diff(wantDirs, gotDirs); diff != "" {
		t.Errorf("database directory (-want +got):\n%s", diff)
	}
	if dockerEnv["DATABASE_URL"] != flyDB {
		t.Errorf("DATABASE_URL is %q in the Dockerfile and %q in fly.toml; want the same", dockerEnv["DATABASE_URL"], flyDB)
	}
}

// ---------------------------------------------------------------------------
// .dockerignore

// dockerignored reports whether the .dockerignore patterns leave name (a
// slash-separated path relative to the context) out of the build context.
// The last matching pattern wins; a pattern matches a path or any directory
// above it; "**/" at the start matches at any depth.
func dockerignored(patterns []string, name string) bool {
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/")
		for q := name; q != "." && q != "/"; q = path.Dir(q) {
			if ignoreMatch(p, q) {
				ignored = !neg
				break
			}
		}
	}
	return ignored
}

func ignoreMatch(pattern, name string) bool {
	if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
		parts := strings.Split(name, "/")
		for i := range parts {
			if ok, _ := path.Match(rest, strings.Join(parts[i:], "/")); ok {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

func TestDockerignore(t *testing.T) {
	var patterns []string
	for i, line := range strings.Split(readRepoFile(t, ".dockerignore"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(strings.TrimPrefix(line, "**/"), "**") {
			t.Fatalf(".dockerignore line %d: %q: ** is read only at the start of a pattern", i+1, line)
		}
		if _, err := path.Match(line, ""); err != nil {
			t.Fatalf(".dockerignore line %d: %q: %v", i+1, line, err)
		}
		patterns = append(patterns, line)
	}
	tests := []struct {
		name string
		want bool // left out of the build context
	}{
		{"Dockerfile", false},
		{"go.mod", false},
		{"go.sum", false},
		{"main.go", false},
		{"internal/sqlitedb/sqlitedb.go", false},
		{".git/HEAD", true},
		{".env", true},
		{"kanban.db", true},
		{"data/kanban.db-wal", true},
	}
	got := map[string]bool{}
	want := map[string]bool{}
	for _, tt := range tests {
		want[tt.name] = tt.want
		got[tt.name] = dockerignored(patterns, tt.name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("left out of the build context (-want +got):\n%s", diff)
	}
}

// ---------------------------------------------------------------------------
// The readers themselves

func TestParseDockerfile(t *testing.T) {
	src := "# syntax comment\n" +
		"FROM golang:1.26 AS Build\n" +
		"RUN a \\\n" +
		"# a comment inside the continuation\n" +
		"\n" +
		"    && b \\  \n" +
		"    && c\n" +
		"  # indented comment\n" +
		"ENV A=1 B=\"two words\" C='x y'\n" +
		"FROM scratch\n" +
		"COPY --from=build --chown=1:2 [\"/a b\", \"/c\"]\n" +
		"HEALTHCHECK --interval=5s CMD [\"/x\", \"y\"]\n" +
		"ENV LEGACY some value"
	ins, err := parseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []instruction{
		{2, "FROM", "golang:1.26 AS Build"},
		{3, "RUN", "a     && b     && c"},
		{9, "ENV", `A=1 B="two words" C='x y'`},
		{10, "FROM", "scratch"},
		{11, "COPY", `--from=build --chown=1:2 ["/a b", "/c"]`},
		{12, "HEALTHCHECK", `--interval=5s CMD ["/x", "y"]`},
		{13, "ENV", "LEGACY some value"},
	}
	if diff := cmp.Diff(want, ins); diff != "" {
		t.Fatalf("instructions (-want +got):\n%s", diff)
	}
	stages, err := splitStages(ins)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"build", ""}, []string{stages[0].Name, stages[1].Name}); diff != "" {
		t.Errorf("stage names (-want +got):\n%s", diff)
	}
	env, err := stages[0].env()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"A": "1", "B": "two words", "C": "x y"}, env); diff != "" {
		t.Errorf("ENV (-want +got):\n%s", diff)
	}
	legacy, err := stages[1].env()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"LEGACY": "some value"}, legacy); diff != "" {
		t.Errorf("legacy ENV (-want +got):\n%s", diff)
	}
	flags, srcs, dest, err := copyArgs(stages[1].Body[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{map[string]string{"from": "build", "chown": "1:2"}, []string{"/a b"}, "/c"}, []any{flags, srcs, dest}); diff != "" {
		t.Errorf("COPY (-want +got):\n%s", diff)
	}

	for _, bad := range []string{
		"# escape=`\nFROM scratch",
		"RUN before-from",
		"FROM a b c d",
	} {
		ins, err := parseDockerfile(bad)
		if err == nil {
			_, err = splitStages(ins)
		}
		if err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseTOML(t *testing.T) {
	src := `top = "a # not a comment" # a comment
n = 1_000
[one]
  b = true
  s = 'lit\eral'
  e = "tab\there \"q\""
  arr = ["x", 2, false,]
[[many]]
  k = 1
[[many]]
  k = 2
[one.sub]
`
	doc, err := parseTOML(src)
	if err != nil {
		t.Fatal(err)
	}
	type flat struct {
		Name  string
		Array bool
		Keys  map[string]any
	}
	var got []flat
	for _, tab := range doc {
		got = append(got, flat{tab.Name, tab.Array, tab.Keys})
	}
	want := []flat{
		{"", false, map[string]any{"top": "a # not a comment", "n": int64(1000)}},
		{"one", false, map[string]any{"b": true, "s": `lit\eral`, "e": "tab\there \"q\"", "arr": []any{"x", int64(2), false}}},
		{"many", true, map[string]any{"k": int64(1)}},
		{"many", true, map[string]any{"k": int64(2)}},
		{"one.sub", false, map[string]any{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}

	for _, bad := range []string{
		"a = 1.5",
		"a = 1\na = 2",
		"[t]\n[t]",
		"[t]\n[[t]]",
		"a.b = 1",
		`a = """x"""`,
		`a = "open`,
		"x = { y = 1 }",
	} {
		if _, err := parseTOML(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
