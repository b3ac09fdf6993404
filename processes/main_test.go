package processes_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sessionkit/sessionkit/internal/proctest"
	"github.com/sessionkit/sessionkit/processes"
)

// helperEnv selects a helper mode of the test binary, so that tests can run
// odd children without shell tricks, as os/exec's tests do.
const helperEnv = "SESSIONKIT_TEST_HELPER"

func TestMain(m *testing.M) {
	proctest.QuietRaceExit()
	if mode := os.Getenv(helperEnv); mode != "" {
		runHelper(mode)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func runHelper(mode string) {
	switch mode {
	case "ignore-term":
		// Reports every SIGTERM and keeps running: only SIGKILL ends it.
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		fmt.Println("ready")
		for range ch {
			fmt.Println("term ignored")
		}
	case "fds":
		// Lists the descriptors above stdio that it inherited: none is
		// expected. Checked before anything here opens one.
		var fds []string
		for fd := 3; fd < 1024; fd++ {
			if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); e == 0 {
				target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
				fds = append(fds, strconv.Itoa(fd)+"="+target)
			}
		}
		fmt.Printf("fds:%s.\n", strings.Join(fds, ","))
	case "exit-on-term":
		// Runs its handler on SIGTERM or SIGHUP: it says so and exits 7.
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGHUP)
		fmt.Println("ready")
		sig := <-ch
		fmt.Println("handled", sig)
		os.Exit(7)
	case "dribble":
		// Writes DRIBBLE_BYTES bytes one write(2) at a time, pausing a
		// little after each, as a program printing progress dots does.
		n, _ := strconv.Atoi(os.Getenv("DRIBBLE_BYTES"))
		for range n {
			if _, err := os.Stdout.Write([]byte{'.'}); err != nil {
				os.Exit(1)
			}
			pauseBriefly()
		}
	case "hop":
		// A daemon that hops pids: after 50 ms it starts a copy of itself
		// in a session of its own, with its environment and arguments,
		// and exits, for ever.
		time.Sleep(50 * time.Millisecond)
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			os.Exit(1)
		}
	case "join-group":
		// Joins the process group JOIN_PGID, prints "joined" and sleeps.
		pgid, _ := strconv.Atoi(os.Getenv("JOIN_PGID"))
		if err := syscall.Setpgid(0, pgid); err != nil {
			fmt.Println("setpgid:", err)
			os.Exit(1)
		}
		fmt.Println("joined")
		time.Sleep(time.Hour)
	case "host":
		// A host of HOST_SESSIONS sessions, each started from a goroutine
		// of its own, running HOST_SCRIPT with sh: prints its Manager's
		// cgroup and its sessions' pids, then "ready" once every session
		// printed "ready", then waits to be killed. HOST_FALLBACK=1 turns
		// cgroups off; HOST_CGROUP is the parent of its Manager's cgroup.
		n, _ := strconv.Atoi(os.Getenv("HOST_SESSIONS"))
		var opts []processes.Option
		if os.Getenv("HOST_FALLBACK") == "1" {
			opts = append(opts, processes.WithoutCgroup())
		} else if parent := os.Getenv("HOST_CGROUP"); parent != "" {
			opts = append(opts, processes.WithCgroup(parent))
		}
		m := processes.NewManager(0, opts...)
		fmt.Println("cgroup", m.Containment().Cgroup)
		started := make(chan *processes.Session, n)
		for range n {
			go func() {
				s, err := m.Start(exec.Command("sh", "-c", os.Getenv("HOST_SCRIPT")), processes.StartOptions{})
				if err != nil {
					fmt.Println("start:", err)
					os.Exit(1)
				}
				started <- s
			}()
		}
		for range n {
			s := <-started
			for since := 0; ; {
				out := s.Output(since)
				var text string
				for _, c := range out.Chunks {
					text += string(c.Data)
					since = c.Seq
				}
				if strings.Contains(text, "ready") {
					break
				}
				_ = s.WaitOutput(context.Background(), since)
			}
			fmt.Println("pid", s.Pid())
		}
		fmt.Println("ready")
		select {}
	case "flood":
		n, _ := strconv.Atoi(os.Getenv("FLOOD_BYTES"))
		buf := []byte(strings.Repeat("x", 64<<10))
		for n > 0 {
			k := min(n, len(buf))
			if _, err := os.Stdout.Write(buf[:k]); err != nil {
				os.Exit(1)
			}
			n -= k
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		os.Exit(2)
	}
}
