package access

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// allowedModules are the only packages outside the standard library the
// package may import: the Ed25519 verifier behind the signature rule (see
// sig.go), which is pure computation.
var allowedModules = map[string]bool{"github.com/oasisprotocol/curve25519-voi/primitives/ed25519": true}

// TestStandardLibraryOnly keeps the package importable by every side (crdt,
// relay, p2p) without pulling in libp2p or Badger, and keeps it pure: the
// standard library and allowedModules only.
func TestStandardLibraryOnly(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string]bool{"os": true, "net": true, "log": true, "log/slog": true, "math/rand": true,
		"math/rand/v2": true, "crypto/rand": true, "sync": true, "unsafe": true}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if allowedModules[path] {
				continue
			}
			if strings.Contains(strings.Split(path, "/")[0], ".") || forbidden[path] {
				t.Errorf("%s imports %q", name, path)
			}
		}
	}
}
