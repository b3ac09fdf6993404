package fleet_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes/fleet"
	"github.com/sessionkit/sessionkit/processes/httpapi"
)

// BenchmarkPlaceMemory: placement decisions of the memory Store over 100
// hosts (a scan of every host under one lock), beside the bare scan
// (the least loaded of 100 structs chosen and its count raised).
func BenchmarkPlaceMemory(b *testing.B) {
	st := fleet.NewMemoryStore()
	now := time.Now()
	for i := range 100 {
		require.NoError(b, st.RegisterHost(context.Background(), fleet.Host{ID: fmt.Sprintf("h%03d", i), Capacity: 1 << 30}, now))
	}
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := st.Place(ctx, fleet.Placement{SessionID: "s" + strconv.Itoa(i), Now: now, TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

func BenchmarkPlaceMemoryBare(b *testing.B) {
	type host struct {
		id              string
		seats, capacity int
	}
	hosts := make([]host, 100)
	for i := range hosts {
		hosts[i] = host{id: fmt.Sprintf("h%03d", i), capacity: 1 << 30}
	}
	placed := map[string]string{}
	i := 0
	for b.Loop() {
		i++
		best := -1
		for j := range hosts {
			h := &hosts[j]
			if h.seats >= h.capacity {
				continue
			}
			if best < 0 || cmp.Compare(int64(h.seats)*int64(hosts[best].capacity), int64(hosts[best].seats)*int64(h.capacity)) < 0 {
				best = j
			}
		}
		hosts[best].seats++
		placed["s"+strconv.Itoa(i)] = hosts[best].id
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// cannedTransport answers every request with a 1 KiB JSON body, as a
// host's poll would, without a network: what remains is the proxy's own
// work.
type cannedTransport struct{ body []byte }

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: -1, Request: r,
	}, nil
}

// BenchmarkGatewayOwnCost: the gateway's own CPU per proxied request (a
// GET {sid}/output served from its route cache, through ReverseProxy to
// a Transport that answers at once), beside BenchmarkGatewayOwnCostBare,
// a bare ReverseProxy over the same Transport: the difference is what
// the gateway adds to the proxy, without the network hop that dominates
// BenchmarkGatewayRequest in package pgfleet.
func BenchmarkGatewayOwnCost(b *testing.B) {
	ctx := context.Background()
	st := fleet.NewMemoryStore()
	require.NoError(b, st.RegisterHost(ctx, fleet.Host{ID: "h", Capacity: 1, Addr: "http://127.0.0.1:1"}, time.Now()))
	_, err := st.Place(ctx, fleet.Placement{SessionID: "s", Now: time.Now(), TTL: time.Hour})
	require.NoError(b, err)
	gw, err := fleet.NewGateway(ctx, st, fleet.NewAgentSelector(st, fleet.SelectorOptions{}), fleet.NewCommandDispatcher(st, fleet.DispatcherOptions{}),
		fleet.GatewayOptions{Transport: cannedTransport{body: make([]byte, 1<<10)}, RouteCacheTTL: time.Hour})
	require.NoError(b, err)
	b.Cleanup(func() { _ = gw.Close() })
	benchHandler(b, gw)
}

// BenchmarkGatewayOwnCostBare: a ReverseProxy with a Director that sets
// the host and a pool of 32 KiB buffers, as the gateway's.
func BenchmarkGatewayOwnCostBare(b *testing.B) {
	p := &httputil.ReverseProxy{
		Director:   func(r *http.Request) { r.URL.Scheme, r.URL.Host = "http", "127.0.0.1:1" },
		Transport:  cannedTransport{body: make([]byte, 1<<10)},
		BufferPool: benchBuffers{},
	}
	benchHandler(b, p)
}

func benchHandler(b *testing.B, h http.Handler) {
	r := httptest.NewRequest(http.MethodGet, "http://gw.example"+httpapi.DefaultPrefix+"/s/output?since=0", nil)
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

var benchBufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

type benchBuffers struct{}

func (benchBuffers) Get() []byte  { return *benchBufferPool.Get().(*[]byte) }
func (benchBuffers) Put(b []byte) { benchBufferPool.Put(&b) }
