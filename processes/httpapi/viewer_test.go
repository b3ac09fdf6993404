package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/coder/websocket"
)

// viewerEnv set to 1 makes the test binary a viewer process (see viewer).
const viewerEnv = "HTTPAPI_TEST_VIEWER"

// viewer is the test binary's viewer mode, the client of
// BenchmarkAttachTerminalFloodViewer in a process of its own, as a browser
// is: for each attachment URL read from stdin it attaches, sends "go\n",
// reads to the exit message and prints the output bytes it received. It
// returns the exit code.
func viewer() int {
	sc := bufio.NewScanner(os.Stdin)
	buf := make([]byte, 32<<10)
	for sc.Scan() {
		n, err := viewOnce(sc.Text(), buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(n)
	}
	return 0
}

// viewOnce is one attachment of viewer.
func viewOnce(url string, buf []byte) (int, error) {
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return 0, err
	}
	defer c.CloseNow()
	c.SetReadLimit(8 << 20)
	if err := c.Write(ctx, websocket.MessageBinary, []byte("go\n")); err != nil {
		return 0, err
	}
	return drain(ctx, c, buf)
}

// drain reads an attachment until its exit message and returns the output
// bytes it received, without copying them.
func drain(ctx context.Context, c *websocket.Conn, buf []byte) (int, error) {
	got := 0
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return got, err
		}
		if typ == websocket.MessageBinary {
			k, err := io.CopyBuffer(io.Discard, r, buf)
			got += int(k)
			if err != nil {
				return got, err
			}
			continue
		}
		p, err := io.ReadAll(r)
		if err != nil {
			return got, err
		}
		if strings.Contains(string(p), `"exit"`) {
			return got, nil
		}
	}
}
