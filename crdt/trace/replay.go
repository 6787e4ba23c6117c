package trace

import (
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/quire-dev/quire/crdt"
)

// DocID is the document id replays use.
var DocID = crdt.DocID{'t', 'r', 'a', 'c', 'e'}

// Agents returns n distinct author keys in ascending key order, so agent i
// sorts before agent i+1. Concurrent inserts at the same place order by
// author key, and the traces put the lower agent's text first.
func Agents(n int) []crdt.Author {
	out := make([]crdt.Author, n)
	for i := range out {
		out[i] = sha256.Sum256(fmt.Appendf(nil, "quire trace agent %d", i))
	}
	slices.SortFunc(out, func(a, b crdt.Author) int { return a.Compare(b) })
	return out
}

// Apply applies one txn's patches to d as local edits.
func Apply(d *crdt.Doc, tx *Txn) error {
	for _, p := range tx.Patches {
		if p.Del > 0 {
			if err := d.Delete(p.Pos, p.Del); err != nil {
				return err
			}
		}
		if p.Ins != "" {
			if err := d.Insert(p.Pos, p.Ins); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReplaySequential types the whole trace on one replica. With sealEach it
// seals a change after every txn (as a live session would) and returns
// them; otherwise it seals once at the end.
func ReplaySequential(t *Trace, sealEach bool) (*crdt.Doc, []*crdt.Change, error) {
	d := crdt.New(DocID, Agents(1)[0])
	if t.StartContent != "" {
		if err := d.Insert(0, t.StartContent); err != nil {
			return nil, nil, err
		}
	}
	var changes []*crdt.Change
	for i := range t.Txns {
		if err := Apply(d, &t.Txns[i]); err != nil {
			return nil, nil, fmt.Errorf("txn %d: %w", i, err)
		}
		if sealEach {
			changes = append(changes, d.Seal()...)
		}
	}
	changes = append(changes, d.Seal()...)
	return d, changes, nil
}

// ReplayConcurrent replays a concurrent trace with one replica per agent:
// before each txn its agent's replica merges the changes of the txn's
// causal history, then types the txn and seals it as one change. It
// returns the replicas (each merged with everything at the end) and the
// changes in txn order.
func ReplayConcurrent(t *Trace) ([]*crdt.Doc, []*crdt.Change, error) {
	keys := Agents(t.NumAgents)
	docs := make([]*crdt.Doc, t.NumAgents)
	for i := range docs {
		docs[i] = crdt.New(DocID, keys[i])
	}
	// vc[i][a]: how many txns of agent a txn i's history holds.
	vc := make([][]int, len(t.Txns))
	byAgent := make([][]int, t.NumAgents) // txn indexes per agent
	have := make([][]int, t.NumAgents)    // have[r][a]: txns of a replica r holds
	for r := range have {
		have[r] = make([]int, t.NumAgents)
	}
	changes := make([]*crdt.Change, len(t.Txns))
	for i := range t.Txns {
		tx := &t.Txns[i]
		need := make([]int, t.NumAgents)
		for _, p := range tx.Parents {
			for a, n := range vc[p] {
				need[a] = max(need[a], n)
			}
		}
		d := docs[tx.Agent]
		var deliver []int
		for a := range need {
			for k := have[tx.Agent][a]; k < need[a]; k++ {
				deliver = append(deliver, byAgent[a][k])
			}
			have[tx.Agent][a] = max(have[tx.Agent][a], need[a])
		}
		slices.Sort(deliver)
		var batch []*crdt.Change
		for _, j := range deliver {
			if changes[j] != nil {
				batch = append(batch, changes[j])
			}
		}
		if _, err := d.Apply(batch...); err != nil {
			return nil, nil, fmt.Errorf("txn %d: merge: %w", i, err)
		}
		if err := Apply(d, tx); err != nil {
			return nil, nil, fmt.Errorf("txn %d: %w", i, err)
		}
		if cs := d.Seal(); len(cs) == 1 {
			changes[i] = cs[0]
		} else if len(cs) > 1 {
			return nil, nil, fmt.Errorf("txn %d sealed %d changes", i, len(cs))
		}
		byAgent[tx.Agent] = append(byAgent[tx.Agent], i)
		have[tx.Agent][tx.Agent] = len(byAgent[tx.Agent])
		need[tx.Agent] = len(byAgent[tx.Agent])
		vc[i] = need
	}
	var all []*crdt.Change
	for _, c := range changes {
		if c != nil {
			all = append(all, c)
		}
	}
	for _, d := range docs {
		if _, err := d.Apply(all...); err != nil {
			return nil, nil, fmt.Errorf("final merge: %w", err)
		}
	}
	return docs, all, nil
}
