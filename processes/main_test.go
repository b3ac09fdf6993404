package processes_test

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// helperEnv selects a helper mode of the test binary, so that tests can run
// odd children without shell tricks, as os/exec's tests do.
const helperEnv = "SESSIONKIT_TEST_HELPER"

func TestMain(m *testing.M) {
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
