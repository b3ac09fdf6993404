package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// errNoServer reports that there is neither a server to use nor the
// binaries to start one: the tests skip, or fail under CI=true.
var errNoServer = errors.New("pgtest: no PostgreSQL: install the Debian package postgresql (apt-get install postgresql), or set " + EnvURL + " to use a running server")

// binGlob is where Debian installs each major version's server binaries.
var binGlob = "/usr/lib/postgresql/*/bin"

// findBin returns the directory holding initdb and postgres: the highest
// version under binGlob, else the one of initdb on PATH. It returns an
// error wrapping errNoServer if there is none.
func findBin() (string, error) {
	dirs, _ := filepath.Glob(binGlob)
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w (no initdb and postgres under %s or on PATH)", errNoServer, binGlob)
}

// version returns the major version in a path such as
// /usr/lib/postgresql/15/bin, or 0.
func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// tail keeps the last lines of the server's log, for error messages.
type tail struct {
	lines []string
	next  int
}

const tailLines = 40

func (t *tail) add(line string) {
	if len(t.lines) < tailLines {
		t.lines = append(t.lines, line)
		return
	}
	t.lines[t.next] = line
	t.next = (t.next + 1) % tailLines
}

func (t *tail) String() string {
	return strings.Join(append(append([]string(nil), t.lines[t.next:]...), t.lines[:t.next]...), "\n")
}
