package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// marker precedes a code block in docs/*.md that quotes a region of an
// example: <!-- snippet: examples/dir/file.go NAME -->. The region is the
// text between "// snippet:NAME" and "// end snippet" in that file.
var marker = regexp.MustCompile("(?m)^<!-- snippet: (\\S+) (\\S+) -->\\n```go\\n((?s).*?)\\n```")

// The code quoted in docs/ is the code of the examples, which CI builds,
// vets and tests: it compiles because it is the same text.
func TestDocsQuoteExamples(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range marker.FindAllStringSubmatch(string(b), -1) {
			n++
			want, err := region(filepath.Join("..", m[1]), m[2])
			if err != nil {
				t.Errorf("%s: %v", doc, err)
				continue
			}
			if got := strings.TrimSpace(m[3]); got != want {
				t.Errorf("%s quotes %s %s out of date; it should read:\n%s", doc, m[1], m[2], want)
			}
		}
		if strings.Count(string(b), "<!-- snippet:") != len(marker.FindAllString(string(b), -1)) {
			t.Errorf("%s: a snippet marker is not followed by a ```go block", doc)
		}
	}
	if n < 4 {
		t.Fatalf("found %d quoted snippets in docs/, want at least 4", n)
	}
}

func region(file, name string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := string(b)
	start := "// snippet:" + name + "\n"
	i := strings.Index(s, start)
	if i < 0 {
		return "", &os.PathError{Op: "find snippet " + name, Path: file, Err: os.ErrNotExist}
	}
	rest := s[i+len(start):]
	j := strings.Index(rest, "// end snippet")
	if j < 0 {
		return "", &os.PathError{Op: "find end of snippet " + name, Path: file, Err: os.ErrNotExist}
	}
	return strings.TrimSpace(rest[:j]), nil
}
