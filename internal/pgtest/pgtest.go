// Package pgtest starts throw-away PostgreSQL 15 clusters for tests: the
// Debian server binaries (initdb, pg_ctl), a fresh temporary data directory,
// a loopback port, run as the `postgres` user when the test runs as root, and
// stopped and removed at the end. No shared server, no mocks.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir holds the server binaries of Debian's postgresql-15 package; $ANDON_PG_BIN overrides it.
func BinDir() string {
	if d := os.Getenv("ANDON_PG_BIN"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// Cluster is one running throw-away server.
type Cluster struct {
	Dir  string // data directory
	Port int
	cred *syscall.Credential // the postgres user's, when running as root
	dbs  atomic.Int64
	log  string
}

// Start initializes and starts a cluster, stopped and removed by t.Cleanup.
// Without the server binaries the test is skipped, or fails when CI is set
// (the Makefile installs them: `make postgres`).
func Start(t testing.TB) *Cluster {
	t.Helper()
	c, err := start()
	if err != nil {
		missing(t, err)
	}
	t.Cleanup(c.Remove)
	return c
}

func missing(t testing.TB, err error) {
	t.Helper()
	if _, statErr := os.Stat(filepath.Join(BinDir(), "initdb")); statErr != nil && os.Getenv("CI") == "" {
		t.Skipf("PostgreSQL server not installed (%v): run `make postgres` (apt-get install postgresql)", statErr)
	}
	t.Fatal(err)
}

var (
	sharedOnce sync.Once
	shared     *Cluster
	sharedErr  error
)

// DB creates a fresh database in the test binary's shared cluster (started on
// first use) and returns its URL. Call Main from TestMain to stop the cluster.
func DB(t testing.TB) string {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		missing(t, sharedErr)
	}
	return shared.NewDB(t)
}

// Main runs the tests and then removes the shared cluster, if one was started.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Remove()
	}
	return code
}

func start() (*Cluster, error) {
	bin := BinDir()
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		return nil, fmt.Errorf("initdb: %w", err)
	}
	dir, err := os.MkdirTemp("", "andon-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, log: filepath.Join(dir, "server.log")}
	if os.Geteuid() == 0 { // initdb refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the postgres user to run the server: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := c.run(filepath.Join(bin, "initdb"), "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if c.Port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.Start(); err != nil {
		c.Remove()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

func (c *Cluster) run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	cmd.Dir = c.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(c.log)
		return fmt.Errorf("%s %v: %w\n%s\nserver log:\n%s", filepath.Base(name), args, err, out, log)
	}
	return nil
}

// Start starts the (stopped) server and waits until it accepts connections.
// Durability is PostgreSQL's default (fsync, synchronous_commit on): what
// the tests and benchmarks measure is what a deployment gets.
func (c *Cluster) Start() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories='' -c max_connections=200 -c shared_buffers=64MB", c.Port)
	return c.run(filepath.Join(BinDir(), "pg_ctl"), "-D", c.data(), "-l", c.log, "-o", opts, "-w", "-t", "60", "start")
}

// Stop stops the server: mode "fast" (clients disconnected, clean shutdown)
// or "immediate" (as a crash: recovery at the next start).
func (c *Cluster) Stop(mode string) error {
	return c.run(filepath.Join(BinDir(), "pg_ctl"), "-D", c.data(), "-m", mode, "-w", "-t", "60", "stop")
}

// Remove stops the server and deletes its directory.
func (c *Cluster) Remove() {
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err == nil {
		_ = c.Stop("immediate")
	}
	os.RemoveAll(c.Dir)
}

// URL is the connection URL of database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// NewDB creates a database of its own for one test and returns its URL.
func (c *Cluster) NewDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", c.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return c.URL(name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CPU is the processor time the shared cluster's server processes have used
// so far (user + system: the postmaster, its live children and those it
// reaped), for benchmarks to report the database's share beside their own.
// Zero when no shared cluster runs or /proc is not there.
func CPU() time.Duration {
	if shared == nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(shared.data(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	pm, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range procs {
		st, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: state ppid … utime(14) stime(15) cutime(16) cstime(17).
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		if len(f) < 15 {
			continue
		}
		pid, _ := strconv.Atoi(strings.SplitN(filepath.Base(filepath.Dir(p)), "/", 2)[0])
		ppid, _ := strconv.Atoi(f[1])
		if pid != pm && ppid != pm {
			continue
		}
		for _, i := range []int{11, 12} {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
		if pid == pm {
			for _, i := range []int{13, 14} {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				ticks += n
			}
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}
