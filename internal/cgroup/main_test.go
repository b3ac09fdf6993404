package cgroup_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if left := leftovers(); left != "" {
			os.Stderr.WriteString("cgroup tests left behind: " + left + "\n")
			if code == 0 {
				code = 1
			}
		}
		os.Exit(code)
	}))
}
