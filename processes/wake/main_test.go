package wake_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv selects a helper mode of the test binary, so that tests run
// real programs without shell tricks, as os/exec's tests do.
const helperEnv = "WAKE_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		runHelper(mode)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func runHelper(mode string) {
	switch mode {
	case "http":
		// An HTTP server on WAKE_ADDR: "/" answers "hello from <pid>",
		// "/stream" writes a line every 5 ms until the client leaves,
		// "/status/N" answers status N, "/echo" upgrades to a protocol
		// that sends every byte back. It prints "listening" once it
		// accepts connections.
		serveHTTP()
	case "tree":
		// The HTTP server, after starting two copies of this binary in
		// the "idle" mode, the second in a session of its own (setsid);
		// it prints their pids as "child N" and "grandchild N".
		for i, setsid := range []bool{false, true} {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=idle")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
			if err := cmd.Start(); err != nil {
				fmt.Println("start:", err)
				os.Exit(1)
			}
			fmt.Println([]string{"child", "grandchild"}[i], cmd.Process.Pid)
		}
		serveHTTP()
	case "idle":
		// Several threads that wake every millisecond, for ever.
		for range 3 {
			go func() {
				runtime.LockOSThread()
				for {
					time.Sleep(time.Millisecond)
				}
			}()
		}
		select {}
	case "https":
		// The HTTP server over TLS, with httptest's self-signed
		// certificate.
		serveHTTPS()
	case "halfclose":
		// A TCP server on WAKE_ADDR that never closes a connection: see
		// halfOpen. It prints "listening" once it accepts connections.
		ln, err := net.Listen("tcp", os.Getenv("WAKE_ADDR"))
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		fmt.Println("listening")
		exitOnSIGTERM()
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(1)
			}
			go halfOpen(c, bufio.NewReader(c))
		}
	case "exit":
		// Exits at once with status 3.
		os.Exit(3)
	default:
		if f := platformHelpers[mode]; f != nil {
			f()
			return
		}
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		os.Exit(2)
	}
}

// platformHelpers are the helper modes that only some platforms build.
var platformHelpers = map[string]func(){}

func serveHTTP() {
	ln, err := net.Listen("tcp", os.Getenv("WAKE_ADDR"))
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening")
	exitOnSIGTERM()
	_ = http.Serve(ln, helperMux())
}

func serveHTTPS() {
	ln, err := net.Listen("tcp", os.Getenv("WAKE_ADDR"))
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: helperMux()}}
	srv.StartTLS()
	fmt.Println("listening")
	exitOnSIGTERM()
	select {}
}

func exitOnSIGTERM() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	go func() { <-ch; os.Exit(0) }()
}

// helperMux serves the helper servers' paths.
func helperMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %d", os.Getpid())
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for {
			if _, err := fmt.Fprintln(w, "tick"); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		// An upgrade to the "echo" protocol: every byte comes back.
		if r.Header.Get("Upgrade") != "echo" {
			w.WriteHeader(http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		if brw.Flush() != nil {
			return
		}
		_, _ = io.Copy(conn, brw)
	})
	mux.HandleFunc("/halfclose", func(w http.ResponseWriter, r *http.Request) {
		// An upgrade to the "halfclose" protocol: see halfOpen.
		if r.Header.Get("Upgrade") != "halfclose" {
			w.WriteHeader(http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: halfclose\r\nConnection: Upgrade\r\n\r\n")
		if brw.Flush() != nil {
			conn.Close()
			return
		}
		halfOpen(conn, brw.Reader)
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
	})
	return mux
}

// kept holds the connections that halfOpen never closes, so that no
// finalizer closes them either.
var kept struct {
	sync.Mutex
	conns []net.Conn
}

// halfOpen serves a peer that never closes its side of c: it prints
// "got LINE" for each line it reads from r (c's reader), half-closes
// c on the line "close", and once the client's side ended, writes "eof"
// unless it half-closed; then it keeps c open and silent for ever.
func halfOpen(c net.Conn, r *bufio.Reader) {
	kept.Lock()
	kept.conns = append(kept.conns, c)
	kept.Unlock()
	closed := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		line = strings.TrimSuffix(line, "\n")
		fmt.Println("got", line)
		if line == "close" && !closed {
			closed = true
			_ = c.(*net.TCPConn).CloseWrite()
		}
	}
	if !closed {
		_, _ = io.WriteString(c, "eof\n")
	}
}
