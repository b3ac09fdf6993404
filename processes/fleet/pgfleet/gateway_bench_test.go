package pgfleet_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// BenchmarkGatewayRequest: one poll of a session's output (GET
// {sid}/output, no wait) of 1 KiB and of 256 KiB, sent three ways in the same
// run: "direct" to the host's handler, "bare-proxy" through a bare
// httputil.ReverseProxy in front of it, and "gateway" through the fleet
// gateway over the PostgreSQL Store (session lookup, cached for a
// second, then the same kind of proxy). All on loopback, keep-alive.
func BenchmarkGatewayRequest(b *testing.B) {
	st, _ := newStore(b)
	ctx := context.Background()
	m := processes.NewManager(0)
	b.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	host := httptest.NewServer(httpapi.NewHandler(m, httpapi.Options{}))
	b.Cleanup(host.Close)
	require.NoError(b, st.RegisterHost(ctx, fleet.Host{ID: "h", Capacity: 10, Addr: host.URL}, time.Now()))
	for _, size := range []int{1 << 10, 256 << 10} {
		s := &processes.Session{ID: strconv.Itoa(size)}
		m.Register(s)
		s.Append("stdout", make([]byte, size))
		_, err := st.Place(ctx, fleet.Placement{SessionID: s.ID, Now: time.Now(), TTL: time.Hour})
		require.NoError(b, err)
	}

	d := fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{})
	gw, err := fleet.NewGateway(ctx, st, fleet.NewAgentSelector(st, fleet.SelectorOptions{TTL: time.Hour}), d, fleet.GatewayOptions{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = gw.Close() })
	gwSrv := httptest.NewServer(gw)
	b.Cleanup(gwSrv.Close)

	done := map[string]bool{}
	target, _ := url.Parse(host.URL)
	bareTr := http.DefaultTransport.(*http.Transport).Clone()
	bareTr.MaxIdleConnsPerHost = 256
	bare := httputil.NewSingleHostReverseProxy(target)
	bare.Transport = bareTr
	bareSrv := httptest.NewServer(bare)
	b.Cleanup(bareSrv.Close)
	b.Cleanup(bareTr.CloseIdleConnections)

	for _, tt := range []struct{ name, base string }{
		{"direct", host.URL}, {"bare-proxy", bareSrv.URL}, {"gateway", gwSrv.URL},
		{"direct", host.URL}, {"bare-proxy", bareSrv.URL}, {"gateway", gwSrv.URL},
	} {
		size := 1 << 10
		if done[tt.name] {
			size = 256 << 10
		}
		done[tt.name] = true
		b.Run(fmt.Sprintf("%dKiB/%s", size>>10, tt.name), func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 16}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}
			u := tt.base + httpapi.DefaultPrefix + "/" + strconv.Itoa(size) + "/output?since=0"
			get := func() {
				resp, err := hc.Get(u)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			get()
			b.ResetTimer()
			for b.Loop() {
				get()
			}
		})
	}
}
