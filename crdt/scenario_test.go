package crdt_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/quire-dev/quire/crdt"
)

// TestScenarios runs the scripts in testdata/scenarios. Each line is a
// command; see testdata/scenarios/README.txt for the language.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		if filepath.Base(f) == "README.txt" {
			continue
		}
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			runScenario(t, f)
		})
	}
}

type scenario struct {
	docs  map[string]*crdt.Doc
	names []string
}

func runScenario(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &scenario{docs: map[string]*crdt.Doc{}}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if err := s.exec(text); err != nil {
			t.Fatalf("%s:%d: %s: %v", path, line, text, err)
		}
	}
}

// fields splits a line into words, keeping Go-quoted strings whole.
func fields(line string) ([]string, error) {
	var out []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				return nil, err
			}
			s, _ := strconv.Unquote(q)
			out = append(out, s)
			line = line[len(q):]
			continue
		}
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			i = len(line)
		}
		out = append(out, line[:i])
		line = line[i:]
	}
	return out, nil
}

func (s *scenario) doc(name string) (*crdt.Doc, error) {
	d, ok := s.docs[name]
	if !ok {
		return nil, fmt.Errorf("no replica %q", name)
	}
	return d, nil
}

func atoi(s string) (int, error) { return strconv.Atoi(s) }

func (s *scenario) exec(line string) error {
	w, err := fields(line)
	if err != nil {
		return err
	}
	switch w[0] {
	case "replicas":
		// Keys ascend with the order of the names, so ties break in
		// that order.
		for i, n := range w[1:] {
			s.docs[n] = crdt.New(crdt.DocID{'s'}, crdt.Author{byte(i + 1)})
			s.names = append(s.names, n)
		}
		return nil
	case "send":
		// send FROM TO [reverse] [dup] [first N]
		from, err := s.doc(w[1])
		if err != nil {
			return err
		}
		to, err := s.doc(w[2])
		if err != nil {
			return err
		}
		cs := from.ChangesSince(to.Vector())
		for i := 3; i < len(w); i++ {
			switch w[i] {
			case "reverse":
				slices.Reverse(cs)
			case "dup":
				cs = append(cs, cs...)
			case "first":
				n, err := atoi(w[i+1])
				if err != nil {
					return err
				}
				cs = cs[:min(n, len(cs))]
				i++
			default:
				return fmt.Errorf("send: unknown option %q", w[i])
			}
		}
		for _, c := range cs {
			if _, err := to.Apply(c); err != nil {
				return err
			}
		}
		return nil
	case "sync":
		for range s.names {
			for _, a := range s.names {
				for _, b := range s.names {
					if a != b {
						if _, err := s.docs[b].Apply(s.docs[a].ChangesSince(s.docs[b].Vector())...); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	case "text":
		if len(w) != 3 {
			return fmt.Errorf("want: text NAME|* TEXT")
		}
		names := []string{w[1]}
		if w[1] == "*" {
			names = s.names
		}
		for _, n := range names {
			d, err := s.doc(n)
			if err != nil {
				return err
			}
			if got := d.Text(); got != w[2] {
				return fmt.Errorf("replica %s: got %q, want %q", n, got, w[2])
			}
		}
		return nil
	case "pending":
		d, err := s.doc(w[1])
		if err != nil {
			return err
		}
		n, err := atoi(w[2])
		if err != nil {
			return err
		}
		if d.Pending() != n {
			return fmt.Errorf("replica %s has %d pending changes, want %d", w[1], d.Pending(), n)
		}
		return nil
	}
	// NAME ins POS TEXT | NAME del POS N | NAME type POS TEXT | NAME seal
	d, err := s.doc(w[0])
	if err != nil {
		return err
	}
	if len(w) < 2 {
		return fmt.Errorf("missing command")
	}
	switch w[1] {
	case "seal":
		d.Seal()
		return nil
	case "ins", "del", "type", "backspace":
		if len(w) != 4 {
			return fmt.Errorf("want: %s %s POS ARG", w[0], w[1])
		}
		pos, err := atoi(w[2])
		if err != nil {
			return err
		}
		switch w[1] {
		case "ins":
			return d.Insert(pos, w[3])
		case "del":
			n, err := atoi(w[3])
			if err != nil {
				return err
			}
			return d.Delete(pos, n)
		case "backspace":
			// Delete N code points before pos, one at a time.
			n, err := atoi(w[3])
			if err != nil {
				return err
			}
			for i := range n {
				if err := d.Delete(pos-1-i, 1); err != nil {
					return err
				}
				d.Seal()
			}
			return nil
		default: // type: one code point and one sealed change at a time
			for _, r := range w[3] {
				if err := d.Insert(pos, string(r)); err != nil {
					return err
				}
				d.Seal()
				pos++
			}
			return nil
		}
	}
	return fmt.Errorf("unknown command %q", w[1])
}
