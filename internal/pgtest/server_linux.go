package pgtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// dirPrefix starts the name of every server's directory in
	// os.TempDir(); the directory holds the data directory, the socket and
	// a file naming the test binary's pid.
	dirPrefix = "sessionkit-pgtest-"
	// readyTimeout bounds the wait for a starting server; it takes about a
	// second on a 2-core machine.
	readyTimeout = 30 * time.Second
	// stopTimeout bounds a fast shutdown before the server is killed.
	stopTimeout = 30 * time.Second
	// readyLine is what the server logs once it accepts connections.
	readyLine = "database system is ready to accept connections"
)

// server is a throwaway PostgreSQL cluster served by a child process.
type server struct {
	dir     string        // removed by stop
	url     string        // connection string of the database "postgres"
	cmd     *exec.Cmd     // the postmaster
	logDone chan struct{} // closed when the log pipe is drained to EOF
	took    time.Duration // from start to ready, initdb included

	mu  sync.Mutex
	log tail
}

// account is the unprivileged user that runs the cluster when the tests run
// as root.
type account struct {
	name     string
	uid, gid uint32
}

// runAs returns the account to run initdb and postgres as: nil when not
// root, else the user "postgres", or "nobody" when there is none.
func runAs() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &account{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgtest: running as root and there is no user postgres or nobody to run initdb as (it refuses root): create one, e.g. useradd --system postgres")
}

// attr returns the process attributes of the server's processes: the
// account's credentials, with no supplementary groups, and SIGKILL when the
// test binary dies.
func (a *account) attr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if a != nil {
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid}
	}
	return attr
}

func (a *account) chown(path string) error {
	if a == nil {
		return nil
	}
	return os.Chown(path, int(a.uid), int(a.gid))
}

// start makes a cluster in a new temporary directory and serves it on a
// Unix socket there, waiting until it accepts connections.
func start() (*server, error) {
	began := time.Now()
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	owner, err := runAs()
	if err != nil {
		return nil, err
	}
	removeStale()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &server{dir: dir}
	fail := func(err error) (*server, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	if err := owner.chown(dir); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	data := filepath.Join(dir, "data")
	env := append(os.Environ(), "LC_ALL=C", "LANG=C", "TZ=UTC")

	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "--encoding=UTF8", "--no-locale")
	initdb.Dir, initdb.Env, initdb.SysProcAttr = dir, env, owner.attr()
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %w\n%s", err, out))
	}

	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", data,
		"-k", dir, // the socket's directory
		"-c", "listen_addresses=", // no TCP
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "lc_messages=C",
		"-c", "log_min_messages=warning",
		"-c", "log_min_error_statement=panic")
	cmd.Dir, cmd.Env, cmd.SysProcAttr = dir, env, owner.attr()
	logs, err := cmd.StderrPipe()
	if err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("pgtest: start postgres: %w", err))
	}
	s.cmd = cmd
	s.logDone = make(chan struct{})
	ready := make(chan struct{})
	go s.readLog(logs, ready)

	timeout := time.NewTimer(readyTimeout)
	defer timeout.Stop()
	select {
	case <-ready:
	case <-s.logDone:
		_ = cmd.Wait()
		return fail(fmt.Errorf("pgtest: postgres exited before it was ready:\n%s", s.logTail()))
	case <-timeout.C:
		_ = cmd.Process.Kill()
		<-s.logDone
		_ = cmd.Wait()
		return fail(fmt.Errorf("pgtest: postgres not ready after %v:\n%s", readyTimeout, s.logTail()))
	}
	s.url = fmt.Sprintf("host=%s port=5432 user=postgres dbname=postgres sslmode=disable", dir)
	s.took = time.Since(began)
	return s, nil
}

// readLog drains the server's log to EOF, keeping its tail and closing
// ready at the line saying that the server accepts connections.
func (s *server) readLog(r io.Reader, ready chan<- struct{}) {
	defer close(s.logDone)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			s.mu.Lock()
			s.log.add(strings.TrimRight(line, "\n"))
			s.mu.Unlock()
			if ready != nil && strings.Contains(line, readyLine) {
				close(ready)
				ready = nil
			}
		}
		if err != nil {
			return
		}
	}
}

func (s *server) logTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// stop shuts the server down (fast shutdown: SIGINT, then SIGKILL after
// stopTimeout) and removes its directory.
func (s *server) stop() error {
	var errs []error
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: stop postgres: %w", err))
	}
	kill := time.AfterFunc(stopTimeout, func() { _ = s.cmd.Process.Kill() })
	<-s.logDone // every server process has exited and closed the pipe
	kill.Stop()
	if err := s.cmd.Wait(); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: postgres: %w\n%s", err, s.logTail()))
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: %w", err))
	}
	return errors.Join(errs...)
}

// removeStale removes the directories of servers whose test binary and
// postmaster are both gone, left by a test binary that was killed.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		if alive(pidIn(filepath.Join(d, "owner"))) || alive(pidIn(filepath.Join(d, "data", "postmaster.pid"))) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

// pidIn returns the number on the first line of a file, or 0.
func pidIn(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// alive reports whether a process pid exists and is not a zombie (when
// that cannot be told, it says yes).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
