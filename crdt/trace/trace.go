// Package trace loads real-world editing traces (the editing-traces
// collection: gzipped JSON, positions in code points) and replays them
// through the CRDT, for tests and for `quirectl bench trace`.
package trace

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Trace is one editing trace.
type Trace struct {
	Name         string
	Kind         string // "sequential" or "concurrent"
	StartContent string
	EndContent   string
	NumAgents    int
	Txns         []Txn
}

// Txn is a group of patches made together. In a concurrent trace it has
// an agent and the indexes of the txns it was made on top of.
type Txn struct {
	Parents []int
	Agent   int
	Patches []Patch
}

// Patch deletes Del code points at Pos, then inserts Ins there.
type Patch struct {
	Pos, Del int
	Ins      string
}

func (p *Patch) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw) != 3 {
		return fmt.Errorf("patch has %d fields, want 3", len(raw))
	}
	if err := json.Unmarshal(raw[0], &p.Pos); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[1], &p.Del); err != nil {
		return err
	}
	return json.Unmarshal(raw[2], &p.Ins)
}

// Load reads a gzipped JSON trace.
func Load(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("load trace %s: %w", path, err)
	}
	t, err := Read(zr)
	if err != nil {
		return nil, fmt.Errorf("load trace %s: %w", path, err)
	}
	t.Name = strings.TrimSuffix(filepath.Base(path), ".json.gz")
	return t, nil
}

// Read parses an uncompressed JSON trace.
func Read(r io.Reader) (*Trace, error) {
	var raw struct {
		Kind         string `json:"kind"`
		StartContent string `json:"startContent"`
		EndContent   string `json:"endContent"`
		NumAgents    int    `json:"numAgents"`
		Txns         []struct {
			Parents []int   `json:"parents"`
			Agent   int     `json:"agent"`
			Patches []Patch `json:"patches"`
		} `json:"txns"`
	}
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, err
	}
	t := &Trace{Kind: raw.Kind, StartContent: raw.StartContent, EndContent: raw.EndContent, NumAgents: raw.NumAgents}
	if t.Kind == "" {
		t.Kind = "sequential"
	}
	t.Txns = make([]Txn, len(raw.Txns))
	for i, x := range raw.Txns {
		for _, p := range x.Parents {
			if p < 0 || p >= i {
				return nil, fmt.Errorf("txn %d: parent %d is not an earlier txn", i, p)
			}
		}
		if t.Kind == "concurrent" && (x.Agent < 0 || x.Agent >= t.NumAgents) {
			return nil, fmt.Errorf("txn %d: agent %d of %d", i, x.Agent, t.NumAgents)
		}
		t.Txns[i] = Txn{Parents: x.Parents, Agent: x.Agent, Patches: x.Patches}
	}
	return t, nil
}
