//go:build linux

package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/creack/pty"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/httpapi"
	"github.com/sessionkit/sessionkit/ptyterm"
)

// floodBytes is what one op of the flood benchmarks reads: 16 MiB.
const floodBytes = 16 << 20

// benchServer serves a new Manager over loopback; cleanup shuts both down.
func benchServer(b *testing.B) (*processes.Manager, string) {
	b.Helper()
	m := processes.NewManager(0)
	srv := httptest.NewServer(httpapi.NewHandler(m, httpapi.Options{}))
	b.Cleanup(srv.Close)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			b.Errorf("Shutdown: %v", err)
		}
	})
	return m, "ws" + strings.TrimPrefix(srv.URL, "http") + httpapi.DefaultPrefix
}

func benchDial(b *testing.B, url string) *websocket.Conn {
	b.Helper()
	c, _, err := websocket.Dial(b.Context(), url, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	return c
}

// BenchmarkAttachFlood runs a child that writes 16 MiB to its stdout as
// fast as it can, attached from its start, and reads the attachment to the
// exit message. SetBytes counts the bytes the viewer received, so MB/s is
// the throughput delivered; missed-bytes/op is what the viewer lost because
// the child outran it by more than the ring (the rest of the 16 MiB).
func BenchmarkAttachFlood(b *testing.B) {
	m, base := benchServer(b)
	b.ReportAllocs()
	var missed, n int
	for b.Loop() {
		n++
		missed += floodOnce(b, m, base, "flood"+strconv.Itoa(n))
	}
	b.SetBytes(int64(floodBytes - missed/n))
	b.ReportMetric(float64(missed)/float64(n), "missed-bytes/op")
}

// floodOnce runs one op of BenchmarkAttachFlood as session id and returns
// the bytes the viewer missed. (A function of its own: Go 1.26.8's
// compiler crashes on this body inside a b.Loop loop.)
func floodOnce(b *testing.B, m *processes.Manager, base, id string) int {
	s, err := m.Start(exec.Command("sh", "-c", "read go; exec head -c "+strconv.Itoa(floodBytes)+" /dev/zero"), processes.StartOptions{ID: id})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Remove(s)
	c := benchDial(b, base+"/"+id+"/attach")
	defer c.CloseNow()
	if err := c.Write(b.Context(), websocket.MessageBinary, []byte("go\n")); err != nil {
		b.Fatal(err)
	}
	return floodBytes - readToExit(b, c, make([]byte, 32<<10))
}

// readToExit reads an attachment until its exit message and returns the
// output bytes it received, without copying them.
func readToExit(b *testing.B, c *websocket.Conn, buf []byte) int {
	got, err := drain(b.Context(), c, buf)
	if err != nil {
		b.Fatal(err)
	}
	return got
}

// BenchmarkAttachFloodBaseline is the bare baseline of BenchmarkAttachFlood:
// the same flood, its stdout a pipe read in 32 KiB pieces to the end.
func BenchmarkAttachFloodBaseline(b *testing.B) {
	b.SetBytes(floodBytes)
	b.ReportAllocs()
	buf := make([]byte, 32<<10)
	for b.Loop() {
		cmd := exec.Command("sh", "-c", "exec head -c "+strconv.Itoa(floodBytes)+" /dev/zero")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			k, err := out.Read(buf)
			got += k
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := cmd.Wait(); err != nil || got != floodBytes {
			b.Fatalf("read %d bytes, %v", got, err)
		}
	}
}

// BenchmarkAttachReplay attaches to an exited session holding a full ring
// of 4 KiB chunks and reads the attachment from 0 to the exit message:
// the WebSocket path alone, with nothing to miss. SetBytes counts the
// ring's 1 MiB.
func BenchmarkAttachReplay(b *testing.B) {
	m := ringOf4K(b)
	srv := httptest.NewServer(httpapi.NewHandler(m, httpapi.Options{}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + httpapi.DefaultPrefix + "/s/attach"
	b.SetBytes(processes.MaxBufferBytes)
	b.ReportAllocs()
	buf := make([]byte, 32<<10)
	for b.Loop() {
		if got := replayOnce(b, url, buf); got != processes.MaxBufferBytes {
			b.Fatalf("got %d bytes, want %d", got, processes.MaxBufferBytes)
		}
	}
}

// replayOnce reads one attachment to its exit and returns the output bytes.
func replayOnce(b *testing.B, url string, buf []byte) int {
	c := benchDial(b, url)
	defer c.CloseNow()
	return readToExit(b, c, buf)
}

// BenchmarkAttachReplayBaseline is the bare baseline of
// BenchmarkAttachReplay: the same 1 MiB, written in 4 KiB pieces into a
// pipe by one goroutine and read from it to the end by another.
func BenchmarkAttachReplayBaseline(b *testing.B) {
	chunk := make([]byte, 4<<10)
	buf := make([]byte, 32<<10)
	b.SetBytes(processes.MaxBufferBytes)
	b.ReportAllocs()
	for b.Loop() {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			var err error
			for i := 0; i < processes.MaxBufferBytes/len(chunk) && err == nil; i++ {
				_, err = w.Write(chunk)
			}
			done <- errors.Join(err, w.Close())
		}()
		k, err := io.CopyBuffer(io.Discard, r, buf)
		r.Close()
		if err := errors.Join(err, <-done); err != nil || k != processes.MaxBufferBytes {
			b.Fatalf("read %d bytes: %v", k, err)
		}
	}
}

// reportMedian reports the median of rtts as median-ns.
func reportMedian(b *testing.B, rtts []time.Duration) {
	if len(rtts) == 0 {
		return
	}
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2].Nanoseconds()), "median-ns")
}

// echoer is a program that echoes every byte itself, as a shell's line
// editor does, on a terminal in raw mode; it prints "ready" first.
const echoer = "stty raw -echo && echo ready && exec cat"

// BenchmarkAttachKeystroke sends one keystroke at a time as a binary
// message to a terminal whose program echoes it, and waits for the echo in
// an output message: the round trip a user of a web terminal feels, on
// loopback. median-ns is the median round trip.
func BenchmarkAttachKeystroke(b *testing.B) {
	m, base := benchServer(b)
	if _, err := ptyterm.Start(m, exec.Command("sh", "-c", echoer), ptyterm.Options{ID: "t"}); err != nil {
		b.Fatal(err)
	}
	c := benchDial(b, base+"/t/attach")
	defer c.CloseNow()
	for seen := ""; !strings.Contains(seen, "ready"); { // the hello, then ready
		_, p, err := c.Read(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		seen += string(p)
	}
	key := []byte{'x'}
	var rtts []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if err := c.Write(b.Context(), websocket.MessageBinary, key); err != nil {
			b.Fatal(err)
		}
		for {
			typ, p, err := c.Read(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			if typ == websocket.MessageBinary && bytes.IndexByte(p, 'x') >= 0 {
				break
			}
		}
		rtts = append(rtts, time.Since(t0))
	}
	reportMedian(b, rtts)
}

// BenchmarkAttachKeystrokeBaseline is the bare baseline of
// BenchmarkAttachKeystroke: the same keystroke written to the master side
// of a pseudo-terminal running the same program, and its echo read back
// from it.
func BenchmarkAttachKeystrokeBaseline(b *testing.B) {
	cmd := exec.Command("sh", "-c", echoer)
	f, err := pty.Start(cmd)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	}()
	key := []byte{'x'}
	buf := make([]byte, 64)
	for seen := ""; !strings.Contains(seen, "ready"); {
		k, err := f.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		seen += string(buf[:k])
	}
	var rtts []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := f.Write(key); err != nil {
			b.Fatal(err)
		}
		for {
			k, err := f.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			if bytes.IndexByte(buf[:k], 'x') >= 0 {
				break
			}
		}
		rtts = append(rtts, time.Since(t0))
	}
	reportMedian(b, rtts)
}

// ptyFloodBytes is what one op of the terminal flood benchmarks reads:
// 8 MiB, as a terminal carries less than a pipe.
const ptyFloodBytes = 8 << 20

// ptyFlood is the program of the terminal flood benchmarks: raw mode, so
// that the bytes pass the line discipline unchanged, then the flood.
func ptyFlood(wait bool) string {
	s := "stty raw -echo && "
	if wait {
		s += "read go && "
	}
	return s + "exec head -c " + strconv.Itoa(ptyFloodBytes) + " /dev/zero"
}

// BenchmarkAttachTerminalFlood floods a terminal attached from its start
// and reads the attachment to the exit: the web terminal's output path.
// SetBytes counts the bytes delivered; missed-bytes/op what the viewer
// lost to the ring.
func BenchmarkAttachTerminalFlood(b *testing.B) {
	m, base := benchServer(b)
	b.ReportAllocs()
	var missed, n int
	for b.Loop() {
		n++
		missed += terminalFloodOnce(b, m, base, "tflood"+strconv.Itoa(n))
	}
	b.SetBytes(int64(ptyFloodBytes - missed/n))
	b.ReportMetric(float64(missed)/float64(n), "missed-bytes/op")
}

// terminalFloodOnce runs one op of BenchmarkAttachTerminalFlood and
// returns the bytes the viewer missed.
func terminalFloodOnce(b *testing.B, m *processes.Manager, base, id string) int {
	t, err := ptyterm.Start(m, exec.Command("sh", "-c", ptyFlood(true)), ptyterm.Options{ID: id})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Remove(t.Session())
	c := benchDial(b, base+"/"+id+"/attach")
	defer c.CloseNow()
	if err := c.Write(b.Context(), websocket.MessageBinary, []byte("go\n")); err != nil {
		b.Fatal(err)
	}
	return max(0, ptyFloodBytes-readToExit(b, c, make([]byte, 32<<10)))
}

// BenchmarkAttachTerminalFloodBaseline is the bare baseline of
// BenchmarkAttachTerminalFlood: the same flood on a creack/pty terminal,
// read in 32 KiB pieces until EIO.
func BenchmarkAttachTerminalFloodBaseline(b *testing.B) {
	b.SetBytes(ptyFloodBytes)
	b.ReportAllocs()
	buf := make([]byte, 32<<10)
	for b.Loop() {
		cmd := exec.Command("sh", "-c", ptyFlood(false))
		f, err := pty.Start(cmd)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := f.Read(buf); err != nil {
				break // EIO once the program exited
			}
		}
		f.Close()
		_ = cmd.Wait()
	}
}

// BenchmarkAttachTerminalFloodForwardBaseline is the floor under
// BenchmarkAttachTerminalFlood for any server that moves a terminal's
// output over loopback TCP: the bare PTY loop of
// BenchmarkAttachTerminalFloodBaseline, appending each read to a buffer
// that a second goroutine writes, whatever has gathered, to a TCP socket
// whose other end a third goroutine reads in 32 KiB pieces and discards.
// No framing, no ring, no cgroup, no HTTP: what is left is the copy into
// the socket, the copy out of it and the wake-ups between the three.
func BenchmarkAttachTerminalFloodForwardBaseline(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	b.SetBytes(ptyFloodBytes)
	b.ReportAllocs()
	buf := make([]byte, 32<<10)
	for b.Loop() {
		got := make(chan int64, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- -1
				return
			}
			defer c.Close()
			k, _ := io.CopyBuffer(io.Discard, c, make([]byte, 32<<10))
			got <- k
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		var (
			mu      sync.Mutex
			pending []byte
			ended   bool
			wake    = make(chan struct{}, 1)
			sent    = make(chan error, 1)
		)
		go func() { // the writer: whatever gathered since its last write
			var out []byte
			for range wake {
				mu.Lock()
				out, pending = pending, out[:0]
				end := ended
				mu.Unlock()
				if _, err := conn.Write(out); err != nil || end {
					conn.Close()
					sent <- err
					return
				}
			}
		}()
		cmd := exec.Command("sh", "-c", ptyFlood(false))
		f, err := pty.Start(cmd)
		if err != nil {
			b.Fatal(err)
		}
		for {
			k, err := f.Read(buf)
			mu.Lock()
			pending = append(pending, buf[:k]...)
			ended = err != nil // EIO once the program exited
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
			if err != nil {
				break
			}
		}
		if err := <-sent; err != nil {
			b.Fatal(err)
		}
		if k := <-got; k != ptyFloodBytes {
			b.Fatalf("the socket carried %d bytes, want %d", k, ptyFloodBytes)
		}
		f.Close()
		_ = cmd.Wait()
	}
}

// BenchmarkAttachTerminalFloodViewer is BenchmarkAttachTerminalFlood with
// the viewer in a process of its own, as a browser is, rather than in the
// server's process.
func BenchmarkAttachTerminalFloodViewer(b *testing.B) {
	m, base := benchServer(b)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), viewerEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("viewer: %v", err)
		}
	}()
	out := bufio.NewScanner(outp)
	b.ReportAllocs()
	var missed, n int
	for b.Loop() {
		n++
		id := "vflood" + strconv.Itoa(n)
		t, err := ptyterm.Start(m, exec.Command("sh", "-c", ptyFlood(true)), ptyterm.Options{ID: id})
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintln(in, base+"/"+id+"/attach")
		if !out.Scan() {
			b.Fatalf("viewer ended: %v", out.Err())
		}
		got, err := strconv.Atoi(out.Text())
		if err != nil {
			b.Fatal(err)
		}
		missed += max(0, ptyFloodBytes-got)
		m.Remove(t.Session())
	}
	b.SetBytes(int64(ptyFloodBytes - missed/n))
	b.ReportMetric(float64(missed)/float64(n), "missed-bytes/op")
}
