package main

import (
	"bytes"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The README's quick start, this program and ExampleManager_Start, which
// runs with the processes package's tests, are the same code, comments
// aside.
func TestSameAsReadmeAndExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	snippet := quickStartSnippet(t, string(readme))

	want := normalize(t, "README.md", "package p\nfunc f() {\n"+snippet+"\n}\n", "f")
	assert.Equal(t, want, normalize(t, "main.go", readFile(t, "main.go"), "main"), "main.go differs from the README's quick start")
	example := filepath.Join("..", "..", "processes", "example_linux_test.go")
	assert.Equal(t, want, normalize(t, example, readFile(t, example), "ExampleManager_Start"),
		"ExampleManager_Start differs from the README's quick start")
	const where = "`ExampleManager_Start` in `processes/example_linux_test.go`"
	assert.True(t, strings.Contains(string(readme), where), "README.md does not say %s", where)
}

// quickStartSnippet returns the first Go code block after the README's
// "## Quick start" heading.
func quickStartSnippet(t *testing.T, readme string) string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Quick start\n")
	require.True(t, ok, "no Quick start section in README.md")
	_, code, ok := strings.Cut(section, "```go\n")
	require.True(t, ok, "no Go code block in the Quick start section")
	code, _, ok = strings.Cut(code, "\n```")
	require.True(t, ok, "unterminated Go code block in the Quick start section")
	return code
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

// normalize returns the body of function fn in the Go source src, formatted
// without comments and blank lines.
func normalize(t *testing.T, name, src, fn string) string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, 0) // comments dropped
	require.NoError(t, err)
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == fn {
			var b bytes.Buffer
			require.NoError(t, format.Node(&b, fset, fd.Body))
			var lines []string
			for l := range strings.Lines(b.String()) {
				if strings.TrimSpace(l) != "" {
					lines = append(lines, strings.TrimRight(l, " \t\n"))
				}
			}
			return strings.Join(lines, "\n")
		}
	}
	t.Fatalf("no func %s in %s", fn, name)
	return ""
}

// Every other Go block of the README, and every Go block of an example's
// README, is the body of the example that the sentence after it names
// ("This is `ExampleX` in `path/file_test.go`", a path from the
// repository's root), so that each compiles and runs with the tests.
func TestReadmeSnippetsAreExamples(t *testing.T) {
	root := filepath.Join("..", "..")
	readmes, err := filepath.Glob(filepath.Join(root, "examples", "*", "README.md"))
	require.NoError(t, err)
	readmes = append([]string{filepath.Join(root, "README.md")}, readmes...)
	for _, name := range readmes {
		readme := readFile(t, name)
		blocks := snippetRE.FindAllStringSubmatch(readme, -1)
		if name == readmes[0] {
			require.NotEmpty(t, blocks, "no Go block of the README names its example")
		}
		for _, b := range blocks {
			code, fn, file := b[1], b[2], b[3]
			t.Run(fn, func(t *testing.T) {
				path := filepath.Join(root, filepath.FromSlash(file))
				want := normalize(t, name, "package p\nfunc f() {\n"+code+"\n}\n", "f")
				assert.Equal(t, want, normalize(t, path, readFile(t, path), fn), "the block of %s differs from %s in %s", name, fn, file)
			})
		}
		all := strings.Count(readme, "```go\n")
		assert.Equal(t, all, len(blocks), "every Go block of %s names the example it is", name)
	}
}

// snippetRE matches a Go block of the README followed by the sentence that
// names its example: the code, the example's name and its file.
var snippetRE = regexp.MustCompile("(?s)```go\n(.*?)\n```\n\nThis is `(Example\\w*)` in `([^`]+_test\\.go)`")
