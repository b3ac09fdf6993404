//go:build linux

package wake_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/wake"
)

// mustGet fails b unless a GET of url answers 200.
func mustGet(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("GET %s: %s", url, resp.Status)
	}
}

// benchClient keeps connections alive, as a browser or curl loop does.
func benchClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// BenchmarkWake measures one wake until the first 200 through the front,
// per mode, beside the bare operation on a session of the same program
// in the same run: thaw (cgroup.freeze 0) or SIGCONT of every thread,
// then a GET; start, then GETs until 200. The unit's default probe
// interval is 10 ms; a thawed or continued unit is not probed.
func BenchmarkWake(b *testing.B) {
	for _, mode := range []wake.Mode{wake.ModeFreeze, wake.ModePause, wake.ModeStop} {
		b.Run(mode.String()+"/unit", func(b *testing.B) {
			m := newManager(b)
			g := newGroup(b, m)
			u, err := g.Add(httpSpec(b, "web", mode, nil))
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(u.Handler(wake.ProxyOptions{}))
			b.Cleanup(srv.Close)
			c := benchClient(b)
			mustGet(b, c, srv.URL)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if err := u.Sleep(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				mustGet(b, c, srv.URL)
			}
		})
		b.Run(mode.String()+"/bare", func(b *testing.B) {
			addr := freeAddr(b)
			c := benchClient(b)
			if mode == wake.ModeStop {
				benchBareStart(b, c, addr)
				return
			}
			m := newManager(b)
			s, err := m.Start(mustCmd(b, helperCommand("http", nil, "WAKE_ADDR="+addr)), processes.StartOptions{})
			if err != nil {
				b.Fatal(err)
			}
			waitServing(b, c, "http://"+addr)
			how := processes.PauseFreeze
			if mode == wake.ModePause {
				how = processes.PauseSignal
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if err := s.PauseWith(context.Background(), how); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := s.Resume(context.Background()); err != nil {
					b.Fatal(err)
				}
				mustGet(b, c, "http://"+addr)
			}
		})
	}
}

// waitServing GETs url until it answers 200, retrying at once.
func waitServing(b *testing.B, c *http.Client, url string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s never served: %v", url, err)
		}
	}
}

// benchBareStart is the bare cold start: os/exec starts the program, and
// GETs are retried at once until one answers 200.
func benchBareStart(b *testing.B, c *http.Client, addr string) {
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=http", "WAKE_ADDR="+addr)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		waitServing(b, c, "http://"+addr)
		b.StopTimer()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		c.CloseIdleConnections()
		b.StartTimer()
	}
}

// BenchmarkProxy measures requests per second through a ready unit's
// front, beside a bare httputil.ReverseProxy to the same upstream in the
// same run, with parallel keep-alive clients.
func BenchmarkProxy(b *testing.B) {
	m := newManager(b)
	g := newGroup(b, m)
	u, err := g.Add(httpSpec(b, "web", wake.ModeFreeze, nil))
	if err != nil {
		b.Fatal(err)
	}
	if err := u.Wake(context.Background()); err != nil {
		b.Fatal(err)
	}
	target := &url.URL{Scheme: "http", Host: u.Spec().Upstream}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	for _, f := range []struct {
		name string
		h    http.Handler
	}{
		{"unit", u.Handler(wake.ProxyOptions{Transport: tr})},
		{"bare", &httputil.ReverseProxy{Transport: tr, Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		}}},
	} {
		b.Run(f.name, func(b *testing.B) {
			srv := httptest.NewServer(f.h)
			b.Cleanup(srv.Close)
			c := benchClient(b)
			mustGet(b, c, srv.URL)
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mustGet(b, c, srv.URL)
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// BenchmarkTenThousandWaiters: 10,000 requests arrive at a sleeping unit
// and wait for its wake; starts/op counts the processes started per
// round (1 is single-flight).
func BenchmarkTenThousandWaiters(b *testing.B) {
	m := newManager(b)
	g := newGroup(b, m)
	var starts atomic.Int32
	u, err := g.Add(httpSpec(b, "web", wake.ModeStop, &starts))
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{MaxConnsPerHost: 32}
	b.Cleanup(tr.CloseIdleConnections)
	h := u.Handler(wake.ProxyOptions{Transport: tr})
	const n = 10_000
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		var failed atomic.Int32
		for range n {
			wg.Go(func() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
				if rec.Code != 200 {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d requests failed", failed.Load())
		}
		b.StopTimer()
		if err := u.Sleep(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(starts.Load())/float64(b.N), "starts/op")
}
