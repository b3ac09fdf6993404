package cgroup

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// The helpers below reach a group's interface files relative to its
// directory descriptor. Their errors are *os.PathError values naming the
// file, so errors.Is(err, fs.ErrNotExist) tells a missing file: kernfs
// answers ENODEV, not ENOENT, for the files of a group removed since its
// directory was opened, and the helpers report it as ENOENT (see errno).

// errno returns err, with the ENODEV of a removed group's files as ENOENT.
func errno(err error) error {
	if err == syscall.ENODEV {
		return syscall.ENOENT
	}
	return err
}

func openAt(dirfd int, dir, name string, flags int) (int, error) {
	for {
		fd, err := syscall.Openat(dirfd, name, flags|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: dir + "/" + name, Err: errno(err)}
		}
		return fd, nil
	}
}

// readAll reads fd from offset 0 to its end, appending to buf[:0].
func readAll(fd int, dir, name string, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, max(512, cap(buf)))...)[:len(buf)]
		}
		n, err := syscall.Pread(fd, buf[len(buf):cap(buf)], int64(len(buf)))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return buf, &os.PathError{Op: "read", Path: dir + "/" + name, Err: errno(err)}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// readAt returns the contents of the file name in the directory dirfd,
// appended to buf[:0].
func readAt(dirfd int, dir, name string, buf []byte) ([]byte, error) {
	fd, err := openAt(dirfd, dir, name, syscall.O_RDONLY)
	if err != nil {
		return buf[:0], err
	}
	defer syscall.Close(fd)
	return readAll(fd, dir, name, buf)
}

// writeAt writes s to the file name in one write(2), which is how cgroupfs
// takes a value (and returns the kernel's verdict on it).
func writeAt(dirfd int, dir, name, s string) error {
	fd, err := openAt(dirfd, dir, name, syscall.O_WRONLY|syscall.O_TRUNC)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	for {
		_, err = syscall.Write(fd, []byte(s))
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: dir + "/" + name, Err: errno(err)}
	}
	return nil
}

// subdirs returns the names of the directories in dirfd: a group's child
// groups.
func subdirs(dirfd int, dir string) ([]string, error) {
	fd, err := openAt(dirfd, dir, ".", syscall.O_RDONLY|syscall.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	var names []string
	var buf [4096]byte
	for {
		n, err := syscall.ReadDirent(fd, buf[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return names, &os.PathError{Op: "readdirent", Path: dir, Err: errno(err)}
		}
		if n <= 0 {
			return names, nil
		}
		// struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(*(*uint16)(unsafe.Pointer(&b[16])))
			if reclen < 19 || reclen > len(b) {
				break
			}
			typ, name := b[18], b[19:reclen]
			b = b[reclen:]
			if i := indexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if string(name) == "." || string(name) == ".." {
				continue
			}
			if typ == syscall.DT_UNKNOWN && isDir(fd, string(name)) {
				typ = syscall.DT_DIR
			}
			if typ == syscall.DT_DIR {
				names = append(names, string(name))
			}
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// isDir reports whether name in dirfd is a directory, for file systems
// whose getdents(2) leaves d_type unknown.
func isDir(dirfd int, name string) bool {
	fd, err := syscall.Openat(dirfd, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	syscall.Close(fd)
	return true
}

// isNotExist reports whether err says a file or process is gone.
func isNotExist(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENODEV)
}
