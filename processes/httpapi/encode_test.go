package httpapi

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/processes"
)

// The hand-written JSON of stream names is encoding/json's, byte for byte.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{
		"", "stdout", "stderr", `"quoted"`, `back\slash`, "<script>&amp;</script>",
		"tab\tnew\nline\rcr", "\b\f\x00\x1f\x7f", "\u2028\u2029", "caf\u00e9 \U0001F600",
		"\xff\xfe invalid", "\xed\xa0\x80 surrogate", "ſı\u212a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(appendJSONString(nil, s)))
	})
}

// writePoll against a reference: its body is valid JSON that encoding/json
// would write for the chunks it kept, it keeps a prefix of the page, it
// stays within the limit unless it kept one chunk only, and it says more
// exactly when it left chunks out.
func TestWritePollBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bytesRNG := rand.NewChaCha8([32]byte{1})
	streams := []string{"stdout", "stderr", "<&>" + string(make([]byte, 40)), "\u2028long stream name\xff"}
	exit := 3
	for i := range 150 {
		var chunks []processes.Chunk
		for j := range rng.IntN(40) {
			data := make([]byte, rng.IntN(3000))
			_, _ = bytesRNG.Read(data)
			chunks = append(chunks, processes.Chunk{Stream: streams[rng.IntN(len(streams))], Seq: j + 1 + rng.IntN(1<<30), Data: data})
		}
		out := processes.Output{
			Chunks: chunks, Alive: rng.IntN(2) == 0, LostBytes: rng.IntN(1 << 30), Missed: rng.IntN(100),
			InvocationID: "inv", More: rng.IntN(4) == 0,
		}
		if !out.Alive {
			out.Exit = &exit
		}
		limit := MinResponseBytes + rng.IntN(64<<10)

		rec := httptest.NewRecorder()
		e := getEncoder(rec, http.NewResponseController(rec), 0)
		l := e.layoutPoll(out, limit)
		require.NoError(t, e.writePoll(out, l))
		e.release()
		body := rec.Body.Bytes()
		require.Len(t, body, l.size, "case %d: the layout's length is the body's", i)

		var got wireOutput
		require.NoError(t, json.Unmarshal(body, &got), "case %d: %s", i, body)
		n := len(got.Chunks)
		if n > 1 || len(chunks) == 0 {
			assert.LessOrEqual(t, len(body), limit, "case %d: body bytes", i)
		}
		require.LessOrEqual(t, n, len(chunks))
		if len(chunks) > 0 {
			assert.Positive(t, n, "case %d: no chunk kept", i)
		}
		cut := n < len(chunks) || out.More
		assert.Equal(t, cut, got.More, "case %d: more", i)
		if cut {
			assert.True(t, got.Alive, "case %d: alive before the end", i)
			assert.Nil(t, got.Exit, "case %d: exit before the end", i)
		} else {
			assert.Equal(t, out.Alive, got.Alive)
			assert.Equal(t, out.Exit, got.Exit)
		}

		type ref struct {
			Stream string `json:"stream"`
			Seq    int    `json:"seq"`
			Data   []byte `json:"data"`
		}
		kept := make([]ref, n)
		for j, c := range chunks[:n] {
			kept[j] = ref{c.Stream, c.Seq, c.Data}
		}
		want, err := json.Marshal(struct {
			Chunks       []ref  `json:"chunks"`
			Exit         *int   `json:"exit"`
			Alive        bool   `json:"alive"`
			LostBytes    int    `json:"lost_bytes"`
			Missed       int    `json:"missed"`
			InvocationID string `json:"invocation_id"`
			More         bool   `json:"more"`
		}{kept, got.Exit, got.Alive, out.LostBytes, out.Missed, out.InvocationID, got.More})
		require.NoError(t, err)
		assert.Equal(t, string(want)+"\n", string(body), "case %d: not encoding/json's bytes", i)
	}
}
