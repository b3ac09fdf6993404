package main

import (
	"bytes"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAddressInUse: an address another program listens on fails the start
// with an error that says what to do.
func TestAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 1, run([]string{"-serve", "-addr", ln.Addr().String()}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "address already in use")
	assert.Contains(t, stderr.String(), "pick another address with -addr", "the error does not say what to do")
}
