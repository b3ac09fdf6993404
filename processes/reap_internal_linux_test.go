package processes

import (
	"testing"
	"unsafe"
)

// TestSiginfoLayout checks where waitid's siginfo_t puts the child's pid:
// after three ints, at the alignment of a pointer (the union it is in
// holds pointers), so 16 bytes in on 64-bit platforms and 12 on 32-bit
// ones. With the 64-bit offset on GOARCH=386 every exit went unnoticed:
// the reaper read si_uid, 0 as root, as "still running".
func TestSiginfoLayout(t *testing.T) {
	want := uintptr(12)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		want = 16
	}
	var info siginfo
	if got := unsafe.Offsetof(info.chld) + unsafe.Offsetof(info.chld.pid); got != want {
		t.Fatalf("siginfo's pid at offset %d, want %d", got, want)
	}
	if got := unsafe.Sizeof(info); got < 128 {
		t.Fatalf("siginfo is %d bytes, want at least SI_MAX_SIZE (128): the kernel writes that much", got)
	}
}
