package access

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDecideRandomized builds random histories in which admins revoke each
// other's keys and tokens, and checks that the ruling and every change's
// verdict do not depend on the order the revocation events are listed in.
// A failing seed is printed; add it to seeds to keep it.
func TestDecideRandomized(t *testing.T) {
	const admins = 4
	names := make([]string, admins)
	proofs := make([]*Token, admins)
	for i := range names {
		names[i] = fmt.Sprintf("admin%d", i)
		proofs[i] = chain(t, Admin, "root", names[i])
	}
	// records[i][j]: admin i revokes admin j's key (even j) or token (odd j).
	records := make([][]*Revocation, admins)
	for i := range records {
		records[i] = make([]*Revocation, admins)
		for j := range records[i] {
			kind, target := TargetKey, [32]byte(testPub(names[j]))
			if j%2 == 1 {
				kind, target = TargetToken, proofs[j].ID()
			}
			r, err := Revoke(proofs[i], testKey(names[i]), kind, target, testEpoch)
			if err != nil {
				t.Fatal(err)
			}
			records[i][j] = r
		}
	}
	for seed := uint64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		h := dag{}
		type ch struct {
			ref    ChangeRef
			author int
		}
		var changes []ch
		var events []RevocationEvent
		for n := range 14 {
			c := ch{author: rng.IntN(admins)}
			c.ref[0], c.ref[1] = byte(rng.IntN(256)), byte(n)
			for _, p := range changes {
				if rng.IntN(3) == 0 {
					h[c.ref] = append(h[c.ref], p.ref)
				}
			}
			changes = append(changes, c)
			if target := rng.IntN(admins); target != c.author && rng.IntN(2) == 0 {
				events = append(events, RevocationEvent{Change: c.ref, Author: testPub(names[c.author]), Record: records[c.author][target]})
			}
		}
		verdicts := func(evs []RevocationEvent) string {
			r := Decide(h, evs, testDoc, testPub("root"))
			out := summary(r)
			for _, c := range changes {
				_, err := Authorize(ChangeInfo{Ref: c.ref, Author: testPub(names[c.author]), Kind: KindText, Time: testEpoch},
					proofs[c.author], Policy{Doc: testDoc, Root: testPub("root"), Ruling: r})
				out += " " + verdict(err)[:2]
			}
			return out
		}
		want := verdicts(events)
		t.Logf("seed %d: %s", seed, want)
		for range 8 {
			evs := slices.Clone(events)
			rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			if got := verdicts(evs); got != want {
				t.Fatalf("seed %d: shuffled events decide %s, want %s", seed, got, want)
			}
		}
	}
}
