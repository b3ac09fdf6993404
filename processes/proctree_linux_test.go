package processes

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadStat(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	st, ok := readStat(cmd.Process.Pid, make([]byte, 1024))
	require.True(t, ok)
	assert.Equal(t, cmd.Process.Pid, st.pid)
	assert.Equal(t, os.Getpid(), st.ppid, "ppid")
	self, ok := readStat(os.Getpid(), make([]byte, 1024))
	require.True(t, ok)
	assert.Equal(t, self.pgrp, st.pgrp, "a child started plainly shares its parent's group")
	assert.Equal(t, self.sid, st.sid)
	_, ok = readStat(1<<30, make([]byte, 1024))
	assert.False(t, ok, "stat of a pid that cannot exist")
}
