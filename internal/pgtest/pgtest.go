// Package pgtest gives tests a real PostgreSQL: a throwaway cluster made
// with initdb and run with pg_ctl from Debian's postgresql binaries
// (/usr/lib/postgresql/N/bin, the newest N), in a folder of its own under
// the temp folder, on a free loopback port. Tests start it themselves; no
// server has to be running beforehand.
//
// Without the binaries a test that asks for a cluster is skipped with a
// message that says how to install them, except under CI=true, where it
// fails: .ci/run installs them, so their absence there is a broken CI, not
// a machine that cannot run the test.
//
// initdb refuses to run as root, and CI runs as root: as root, every
// PostgreSQL program runs as the postgres user (runuser -u postgres), and
// the cluster's folder belongs to that user.
//
// Start gives a test a cluster of its own, which it may stop, kill and
// restart; Shared gives every test of a test binary one cluster, in which
// each test makes its own database with NewDatabase (see Main).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kanban-mcp/kanban-mcp/internal/freeport"
)

// BinRoot is where Debian's postgresql packages put each major version's
// programs, as BinRoot/N/bin.
const BinRoot = "/usr/lib/postgresql"

// Superuser is the cluster's superuser, which every URL connects as.
const Superuser = "postgres"

// osUser is the account the cluster runs as when the tests run as root
// (initdb refuses root); Debian's postgresql package creates it.
const osUser = "postgres"

// dirPrefix names the cluster folders in the temp folder, so that one left
// behind by a test binary that died can be found and cleaned up.
const dirPrefix = "pgtest-"

// startTimeout bounds pg_ctl start and the wait for the first connection;
// crash recovery after Kill is part of a start. It guards against a hang
// on a loaded machine and is no measure of speed.
const startTimeout = 120 * time.Second

// Cluster is one running (or stopped) PostgreSQL cluster. Its methods may
// be called from any goroutine, but those that take a testing.TB must be
// called from the test's own goroutine, as t.Fatal requires.
type Cluster struct {
	bin   string // the folder of initdb, pg_ctl and postgres
	dir   string // the cluster's folder: data/, server.log, owner
	runAs string // the OS user the programs run as; "" for the current one
	port  int    // chosen before the cluster is handed out, then fixed

	mu      sync.Mutex // held for a whole start or stop
	running bool
	dbs     int // databases made by NewDatabase, for unique names
}

// Start makes and starts a cluster that belongs to t: it is stopped and its
// folder removed when t ends (with the server's log shown if t failed). t
// may stop, kill and restart it. Without PostgreSQL's binaries Start skips
// t, or fails it under CI=true.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := requireBin(t, BinRoot)
	c, err := start(bin, t.Logf)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: the end of the server's log:\n%s", c.logTail(60))
		}
		if err := c.destroy(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// Port is the loopback TCP port the cluster listens on; it stays the same
// across Stop, Kill, Start and Restart.
func (c *Cluster) Port() int { return c.port }

// URL is a postgres:// URL for database db as the superuser, over loopback
// TCP without TLS (the server has none). Like Port, it does not wait for
// a start or stop in progress.
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// NewDatabase creates an empty database that belongs to t and returns its
// URL. The database is dropped when t ends (forcibly, whoever is still
// connected), unless the cluster is down by then.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	c.mu.Lock()
	c.dbs++
	name := fmt.Sprintf("t%d_%s", c.dbs, dbNamePart(t.Name()))
	c.mu.Unlock()
	if err := c.exec(fmt.Sprintf("CREATE DATABASE %s", pgx.Identifier{name}.Sanitize())); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if !c.isRunning() {
			return
		}
		if err := c.exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pgx.Identifier{name}.Sanitize())); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return c.URL(name)
}

// Stop shuts the cluster down cleanly (pg_ctl stop -m fast: clients are
// disconnected, a checkpoint is written). Start brings it back.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if err := c.stop("fast"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Kill takes the cluster down the way a crash would (pg_ctl stop -m
// immediate: every server process quits at once, with no checkpoint), so
// the next Start runs crash recovery from the WAL. It does not lose what
// was committed: the test setting fsync=off only matters to a crash of the
// whole machine, and synchronous_commit stays on.
func (c *Cluster) Kill(t testing.TB) {
	t.Helper()
	if err := c.stop("immediate"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Start starts a cluster that Stop or Kill took down, on the same port and
// with the same data, and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if err := c.up(false); err != nil {
		t.Fatalf("pgtest: %v\n%s", err, c.logTail(30))
	}
}

// Restart is Stop then Start: the same port, the same data; every client
// connection is cut and must reconnect.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	c.Stop(t)
	c.Start(t)
}

// requireBin returns the newest PostgreSQL bin folder under root. Without
// one it skips t with how to install them, or fails t under CI=true, where
// .ci/run must have installed them.
func requireBin(t testing.TB, root string) string {
	t.Helper()
	bin, err := findBin(root)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but PostgreSQL's binaries are missing (%v): .ci/run must install Debian's postgresql (apt-get install -y postgresql)", err)
		}
		t.Skipf("PostgreSQL test skipped: %v; install Debian's postgresql (apt-get install -y postgresql) to run it (with CI=true its absence fails)", err)
	}
	return bin
}

// findBin returns root/N/bin for the highest major version N (Debian's
// layout: 15, 16, or 9.6 for old ones) whose folder has initdb, pg_ctl and
// postgres.
func findBin(root string) (string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return "", fmt.Errorf("no PostgreSQL under %s: %w", root, err)
	}
	var best []int
	var bestDir string
	for _, e := range entries {
		v, ok := parseVersion(e.Name())
		if !ok {
			continue
		}
		dir := filepath.Join(root, e.Name(), "bin")
		if !hasPrograms(dir) {
			continue
		}
		if best == nil || slices.Compare(v, best) > 0 {
			best, bestDir = v, dir
		}
	}
	if bestDir == "" {
		return "", fmt.Errorf("no %s/N/bin with initdb, pg_ctl and postgres", root)
	}
	return bestDir, nil
}

// parseVersion reads a folder name such as "15" or "9.6".
func parseVersion(name string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(name, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// hasPrograms tells whether dir has the programs a cluster needs, each an
// executable file.
func hasPrograms(dir string) bool {
	for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// start makes a cluster with the programs in bin and starts it. logf
// reports what was cleaned up of clusters that dead test binaries left.
func start(bin string, logf func(string, ...any)) (*Cluster, error) {
	c := &Cluster{bin: bin}
	var owner *user.User
	if os.Geteuid() == 0 {
		u, err := user.Lookup(osUser)
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL must run as the %q user (initdb refuses root), which Debian's postgresql package creates: %w", osUser, err)
		}
		owner, c.runAs = u, osUser
	}
	reapOrphans(c, logf)

	// A folder of its own rather than t.TempDir(): the postgres user must
	// reach it, and t.TempDir()'s parent is root's and mode 0700. The temp
	// folder itself (/tmp, mode 1777) lets every user through.
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	c.dir = dir
	fail := func(err error) (*Cluster, error) {
		// A server that started but never answered is stopped too.
		return nil, errors.Join(err, c.destroy())
	}
	// Who made the cluster, so that a later run can clean it up if this
	// process dies without doing so (a test binary's timeout panic runs no
	// cleanups).
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(err)
	}
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
		if out, err := c.command("test", "-w", dir).CombinedOutput(); err != nil {
			return fail(fmt.Errorf("the %s user cannot write %s (test -w: %v%s): set TMPDIR to a folder every user can traverse, such as /tmp", osUser, dir, err, bytes.TrimRight(out, "\n")))
		}
	}

	// Trust authentication is safe here because initdb's pg_hba.conf only
	// lists the Unix socket and loopback, and the server listens on
	// loopback only. --no-sync: a test cluster need not survive a power cut.
	// C.UTF-8 (in every Debian glibc) gives UTF-8 character classes without
	// depending on the machine's locales.
	if out, err := c.run("initdb", "-D", c.dataDir(), "-U", Superuser, "-E", "UTF8",
		"--locale=C.UTF-8", "--auth=trust", "--no-sync", "--no-instructions"); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	// fsync=off is for speed only: it matters to a crash of the whole
	// machine, never to a crash of PostgreSQL (Kill), since the written
	// pages are in the kernel's cache. synchronous_commit stays on, so a
	// commit that was acknowledged survives Kill. No Unix socket: every
	// client uses loopback TCP, and socket paths have a length limit that a
	// long TMPDIR would break.
	if err := c.appendConf(`
# pgtest
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
`); err != nil {
		return fail(err)
	}

	// The free port is found by binding port 0 and closing it, so another
	// process can take it before PostgreSQL binds it: then try another.
	for attempt := 1; ; attempt++ {
		port, err := freeport.Loopback()
		if err != nil {
			return fail(err)
		}
		c.port = port
		if err := c.appendConf(fmt.Sprintf("port = %d\n", port)); err != nil {
			return fail(err)
		}
		err = c.up(true)
		if err == nil {
			return c, nil
		}
		if attempt < 3 && errors.Is(err, errPortTaken) {
			continue
		}
		return fail(fmt.Errorf("%v\n%s", err, c.logTail(30)))
	}
}

var errPortTaken = errors.New("port already in use")

// up starts the stopped cluster with pg_ctl and waits until it accepts
// connections. fresh tells a first start, whose port may turn out taken.
func (c *Cluster) up(fresh bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return errors.New("the cluster is already running")
	}
	logSize := c.logSize()
	out, err := c.run("pg_ctl", "start", "-D", c.dataDir(), "-l", c.logPath(),
		"-w", "-t", strconv.Itoa(int(startTimeout.Seconds())), "-s")
	if err != nil {
		if fresh && strings.Contains(c.logSince(logSize), "could not bind") {
			return fmt.Errorf("pg_ctl start on port %d: %w", c.port, errPortTaken)
		}
		return fmt.Errorf("pg_ctl start on port %d: %v\n%s", c.port, err, out)
	}
	c.running = true
	// pg_ctl -w waits for the postmaster to say it is ready; a connection
	// is what the tests need, so wait for one too.
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		err := c.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("started on port %d, but accepted no connection: %v", c.port, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop runs pg_ctl stop in mode ("fast" or "immediate") and waits until
// the server is gone.
func (c *Cluster) stop(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return errors.New("the cluster is not running")
	}
	if out, err := c.run("pg_ctl", "stop", "-D", c.dataDir(), "-m", mode, "-w", "-t", "120", "-s"); err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
	c.running = false
	return nil
}

// destroy takes the cluster down (immediately: its data is thrown away) and
// removes its folder.
func (c *Cluster) destroy() error {
	var errs []error
	if c.isRunning() {
		errs = append(errs, c.stop("immediate"))
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

func (c *Cluster) isRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// ping connects to the postgres database and runs a query.
func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// exec runs one statement in the postgres database, as the superuser.
func (c *Cluster) exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *Cluster) logPath() string { return filepath.Join(c.dir, "server.log") }

// command is name with args, run as c.runAs when set, in the cluster's
// folder (the postgres user may not reach the test's working folder), with
// no PG* variables that could point the programs elsewhere.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.runAs, "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = c.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// run runs one of PostgreSQL's programs and returns what it printed.
// pg_ctl start sends the server's output to the log file, so the server
// does not hold the pipe open.
func (c *Cluster) run(program string, args ...string) ([]byte, error) {
	return c.command(filepath.Join(c.bin, program), args...).CombinedOutput()
}

// appendConf appends to postgresql.conf, where a later line wins over an
// earlier one. Appending keeps the file's owner.
func (c *Cluster) appendConf(s string) error {
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c *Cluster) logSize() int64 {
	fi, err := os.Stat(c.logPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (c *Cluster) logSince(offset int64) string {
	b, err := os.ReadFile(c.logPath())
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}

// logTail is the last n lines of the server's log.
func (c *Cluster) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(c.logSince(0), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dbNamePart makes a test name fit in a database name (63 bytes in all),
// so that a leftover database tells which test made it: lower case, each
// run of other characters than a-z, 0-9 and _ made one _, 40 bytes at most.
func dbNamePart(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

// reapOrphans stops and removes the clusters in the temp folder whose test
// binary died without cleaning up (a timeout panic, a SIGKILL), so that
// their servers do not run on forever. A cluster whose owner is alive, or
// whose owner cannot be told, is left alone. It only logs what it did.
func reapOrphans(c *Cluster, logf func(string, ...any)) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue // not ours, or still being made
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		orphan := &Cluster{bin: c.bin, dir: dir, runAs: c.runAs}
		if _, err := os.Stat(filepath.Join(orphan.dataDir(), "postmaster.pid")); err == nil {
			if out, err := orphan.run("pg_ctl", "stop", "-D", orphan.dataDir(), "-m", "immediate", "-w", "-s"); err != nil {
				logf("pgtest: could not stop the cluster in %s left by dead process %d: %v %s", dir, pid, err, out)
				continue
			}
		}
		if err := os.RemoveAll(dir); err == nil {
			logf("pgtest: cleaned up the cluster in %s left by dead process %d", dir, pid)
		}
	}
}

// RequireBinaries skips t, or fails it under CI=true, when PostgreSQL's
// binaries are missing, as Start and Shared do; for tests that start
// PostgreSQL in another process.
func RequireBinaries(t testing.TB) {
	t.Helper()
	requireBin(t, BinRoot)
}

// WaitFor polls cond until it holds, failing t after a minute, for what a
// server does in its own time (a session ending, a notification arriving).
// The minute is a bound against a hang, not a measure of speed: tests
// assert what happens, never how fast.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// UnreachableURL is a postgres:// URL of a loopback port where nothing
// listens (a moment ago), for tests of what a client does when it cannot
// connect.
func UnreachableURL(t testing.TB) string {
	t.Helper()
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return (&Cluster{port: port}).URL("none")
}
