package processes

import (
	"os"
	"syscall"
	"unsafe"
)

// read appends everything f yields to the session until EOF or an error
// (EIO on a terminal whose child exited, or f closed by wait). It waits
// through the runtime poller, so an idle reader holds no thread, and reads
// straight into the session's ring, so that the ring holds the only copy:
// as much as the ring has room for without growing, else what FIONREAD says
// is buffered, so that an idle reader holds no buffer (see appendRead).
func (p *process) read(f *os.File, stream string) {
	defer func() {
		if p.outLeft.Add(-1) == 0 {
			close(p.outDone)
		}
	}()
	if p.tty == nil {
		defer f.Close()
	}
	// A terminal's master stays open until wait reaped the child: closing
	// it hangs the terminal up, which would send SIGHUP to a child that
	// closed its side (EIO here) and has yet to exit.
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	var sysRead func([]byte) (int, error) // made once: fd does not change
	var size func() int
	_ = rc.Read(func(fd uintptr) bool {
		if sysRead == nil {
			sysRead = func(b []byte) (int, error) { return syscall.Read(int(fd), b) }
			size = func() int { return readable(fd) }
		}
		for {
			n, err := p.s.appendRead(stream, size, sysRead)
			switch {
			case n > 0, err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false // wait for the poller
			default:
				return true // EOF or error
			}
		}
	})
}

// readable returns how many bytes fd has buffered for reading, or 64 KiB,
// a pipe's capacity, when FIONREAD does not tell.
func readable(fd uintptr) int {
	var n int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); e != 0 {
		return 64 << 10
	}
	return int(n)
}
