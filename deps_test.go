package quire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/quire-dev/quire"

// listedPackage is the part of `go list -json` output the rules read.
type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string // direct, non-test imports
}

// layers lists, for each top-level directory of the module, the module's
// other top-level directories it may import (DESIGN.md, "Packages and
// dependency direction"). A package may always import packages under its
// own directory. Directories under cmd/ are keyed by their full path.
var layers = map[string][]string{
	"crdt":            {},
	"store":           {"crdt"},
	"p2p":             {"crdt"},
	"relay":           {"p2p", "store", "crdt"},
	"app":             {"p2p", "store", "crdt"},
	"ui":              {"app"},
	"testnet":         {"app", "relay", "p2p", "store", "crdt"},
	"cmd/internal":    {},
	"cmd/quire":       {"cmd/internal", "ui", "app"},
	"cmd/quirectl":    {"cmd/internal", "app", "relay", "p2p", "store", "crdt"},
	"cmd/quire-relay": {"cmd/internal", "relay", "p2p", "store", "crdt"},
	"":                {}, // the root package: documentation and repository tests
}

// layerOf returns the key of layers that governs the module-relative path
// rel, and false for a directory no rule covers.
func layerOf(rel string) (string, bool) {
	parts := strings.SplitN(rel, "/", 3)
	key := parts[0]
	if key == "cmd" && len(parts) > 1 {
		key = "cmd/" + parts[1]
	}
	_, ok := layers[key]
	return key, ok
}

// rel returns path relative to the module, and whether it is in it.
func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

// checkDeps returns one message per import in pkgs that breaks the
// dependency rules. pkgs holds every package of the module and all of
// their dependencies, as `go list -deps` reports them.
func checkDeps(pkgs []listedPackage) []string {
	byPath := map[string]listedPackage{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	var problems []string
	for _, p := range pkgs {
		from, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		layer, ok := layerOf(from)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: package in no known layer; add its directory to layers in deps_test.go and DESIGN.md", p.ImportPath))
			continue
		}
		for _, imp := range p.Imports {
			if msg := checkImport(layer, imp, byPath); msg != "" {
				problems = append(problems, fmt.Sprintf("%s imports %s: %s", p.ImportPath, imp, msg))
			}
		}
		if layer == "app" {
			// Fyne must not arrive through some other module either.
			// (crdt needs no such check: its direct imports are all
			// standard or crdtExternal, which import no Fyne.)
			for _, chain := range fyneChains(p.ImportPath, byPath) {
				problems = append(problems, fmt.Sprintf("%s depends on %s: app must not depend on Fyne, even indirectly",
					p.ImportPath, strings.Join(chain, " -> ")))
			}
		}
	}
	slices.Sort(problems)
	return slices.Compact(problems)
}

// crdtExternal lists the only packages outside the standard library that
// crdt may import: the Ed25519 verifier behind crdt/access's signature rule
// (batch verification; pure computation, pinned in go.mod).
var crdtExternal = map[string]bool{"github.com/oasisprotocol/curve25519-voi/primitives/ed25519": true}

// checkImport explains why a package in layer must not import imp, or
// returns "".
func checkImport(layer, imp string, byPath map[string]listedPackage) string {
	to, inModule := rel(imp)
	if !inModule {
		if layer == "crdt" && !byPath[imp].Standard && !crdtExternal[imp] {
			return "crdt may import only the standard library and its own subpackages"
		}
		if layer == "app" && strings.HasPrefix(imp, "fyne.io/") {
			return "app must not import Fyne; widgets belong in ui"
		}
		return ""
	}
	target, ok := layerOf(to)
	if !ok || target == layer {
		return ""
	}
	switch {
	case target == "testnet":
		return "only _test.go files may import testnet"
	case strings.HasPrefix(target, "cmd/") && !strings.HasPrefix(layer, "cmd/"):
		return "nothing outside cmd/ may import cmd/..."
	case target == "ui" && layer != "cmd/quire":
		return "only cmd/quire may import ui"
	case !slices.Contains(layers[layer], target):
		if len(layers[layer]) == 0 {
			return fmt.Sprintf("%s may import no other part of the module (DESIGN.md)", layerName(layer))
		}
		return fmt.Sprintf("%s may import only %s (DESIGN.md)", layerName(layer), strings.Join(layers[layer], ", "))
	}
	return ""
}

func layerName(layer string) string {
	if layer == "" {
		return "the root package"
	}
	return layer
}

// fyneChains returns the import chains from start to a Fyne package that
// pass through at least one package outside the module (direct imports are
// reported by checkImport), without start itself.
func fyneChains(start string, byPath map[string]listedPackage) [][]string {
	bad := func(path string) bool { return strings.HasPrefix(path, "fyne.io/") }
	var chains [][]string
	prev := map[string]string{start: ""}
	queue := []string{start}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, imp := range byPath[cur].Imports {
			if _, seen := prev[imp]; seen {
				continue
			}
			prev[imp] = cur
			if bad(imp) {
				var chain []string
				for p := imp; p != ""; p = prev[p] {
					chain = append([]string{p}, chain...)
				}
				if len(chain) > 2 { // direct imports are checkImport's to report
					chains = append(chains, chain[1:]) // start is named by the caller
				}
				continue
			}
			queue = append(queue, imp)
		}
	}
	return chains
}

// decodePackages reads the concatenated JSON objects `go list -json` writes.
func decodePackages(r io.Reader) ([]listedPackage, error) {
	var pkgs []listedPackage
	dec := json.NewDecoder(r)
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
}

// TestDependencyDirection enforces DESIGN.md's package dependency rules on
// the real module, for the default build and for the ci build tag.
func TestDependencyDirection(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	for _, tags := range []string{"", "ci"} {
		t.Run("tags="+tags, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(goTool, "list", "-e", "-deps", "-tags="+tags,
				"-json=ImportPath,Standard,Imports", "./...")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("go list: %v\n%s", err, stderr.String())
			}
			pkgs, err := decodePackages(&stdout)
			if err != nil {
				t.Fatalf("decode go list output: %v", err)
			}
			if !slices.ContainsFunc(pkgs, func(p listedPackage) bool { return p.ImportPath == module+"/cmd/quire" }) {
				t.Fatalf("go list did not report %s/cmd/quire; is the test running in the module root?", module)
			}
			for _, p := range checkDeps(pkgs) {
				t.Error(p)
			}
		})
	}
}

// TestCheckDepsCatches feeds checkDeps made-up graphs that break each rule,
// so a rule that silently stops matching is noticed.
func TestCheckDepsCatches(t *testing.T) {
	m := func(s string) string { return module + "/" + s }
	std := func(path string) listedPackage { return listedPackage{ImportPath: path, Standard: true} }
	ext := func(path string, imports ...string) listedPackage {
		return listedPackage{ImportPath: path, Imports: imports}
	}
	tests := []struct {
		name string
		pkgs []listedPackage
		want string // substring of the only problem
	}{
		{"p2p imports store", []listedPackage{ext(m("p2p"), m("store")), ext(m("store"))},
			m("p2p") + " imports " + m("store") + ": p2p may import only crdt"},
		{"store imports p2p", []listedPackage{ext(m("store/kv"), m("p2p")), ext(m("p2p"))},
			"imports " + m("p2p") + ": store may import only crdt"},
		{"crdt imports outside", []listedPackage{ext(m("crdt/sub"), "github.com/x/y"), ext("github.com/x/y")},
			"crdt may import only the standard library"},
		{"crdt imports store", []listedPackage{ext(m("crdt"), m("store")), ext(m("store"))},
			"crdt may import no other part of the module"},
		{"crdt reaches outside indirectly", []listedPackage{ext(m("crdt"), m("crdt/x")), ext(m("crdt/x"), "example.com/z"), ext("example.com/z")},
			m("crdt/x") + " imports example.com/z: crdt may import only the standard library"},
		{"crdt fine", []listedPackage{ext(m("crdt"), "fmt", m("crdt/enc")), ext(m("crdt/enc"), "bytes"), std("fmt"), std("bytes")}, ""},
		{"app imports fyne", []listedPackage{ext(m("app"), "fyne.io/fyne/v2"), ext("fyne.io/fyne/v2")},
			"app must not import Fyne"},
		{"app reaches fyne indirectly", []listedPackage{ext(m("app"), "example.com/w"), ext("example.com/w", "fyne.io/fyne/v2/widget"), ext("fyne.io/fyne/v2/widget")},
			m("app") + " depends on example.com/w -> fyne.io/fyne/v2/widget"},
		{"app imports ui", []listedPackage{ext(m("app"), m("ui")), ext(m("ui"))},
			"only cmd/quire may import ui"},
		{"relay imports app", []listedPackage{ext(m("relay"), m("app")), ext(m("app"))},
			"relay may import only p2p, store, crdt"},
		{"quirectl imports ui", []listedPackage{ext(m("cmd/quirectl"), m("ui")), ext(m("ui"))},
			"only cmd/quire may import ui"},
		{"app imports cli", []listedPackage{ext(m("app"), m("cmd/internal/cli")), ext(m("cmd/internal/cli"))},
			"nothing outside cmd/ may import cmd/..."},
		{"cmd imports cli", []listedPackage{ext(m("cmd/quirectl"), m("cmd/internal/cli")), ext(m("cmd/internal/cli"))}, ""},
		{"relay imports testnet", []listedPackage{ext(m("relay"), m("testnet")), ext(m("testnet"))},
			"only _test.go files may import testnet"},
		{"unknown directory", []listedPackage{ext(m("util"))},
			"package in no known layer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkDeps(tt.pkgs)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("problems = %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("problems = %q, want one containing %q", got, tt.want)
			}
		})
	}
}
