package crdt

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/quire-dev/quire/crdt/access"
)

// Signatures. A change's Sig is its author's Ed25519 signature over
// sigDomain followed by the change's Hash. The hash covers the document id
// and the parents' hashes, so a signature authenticates its change and,
// through the hash links, the change's whole causal past; and since every
// change of an author follows the author's previous change, a signature
// over an author's change vouches for every earlier change of that author.
// A Doc therefore keeps only some signatures per author (see SigSpacing).

// SigSpacing is how many of an author's ops separate the signatures a
// document retains. Ops are grouped by sequence number into buckets of
// SigSpacing; of an author's changes that end in the same bucket, only the
// signature of the last one held is kept. So a Doc keeps at most one
// signature per author per SigSpacing ops, the author's latest signed
// change is always among them, and (when the author signed every change)
// two retained signatures are at most SigSpacing plus one change's ops
// apart. Replicas that received every signed change of an author, or any
// encoding of them, retain the same signatures.
const SigSpacing = 1 << 14

// SignedChangeVersion is the first byte of a change's signed wire form
// (EncodeSigned), distinct from the plain encoding's version byte.
const signedChangeVersion = 0x81

var sigDomain = []byte("quire/change-sig/v1\x00")

// Errors of signature checks.
var (
	// ErrUnsigned marks a change that carries no signature and is not
	// covered by a validly signed later change of its author in the same
	// input, on a document that verifies.
	ErrUnsigned = errors.New("unsigned change")
	// ErrBadSignature marks a signature that is malformed or does not
	// verify for the change's author and hash.
	ErrBadSignature = errors.New("bad signature")
	// ErrHashMismatch marks a change whose Hash is not the hash of its
	// content in this document.
	ErrHashMismatch = errors.New("hash mismatch")
	// ErrNotAdmitted marks a change the admission hook (Doc.SetAdmit)
	// refused; the hook's error is wrapped too.
	ErrNotAdmitted = errors.New("not admitted")
)

func sigMessage(h Hash) []byte {
	return append(append(make([]byte, 0, len(sigDomain)+len(h)), sigDomain...), h[:]...)
}

// Sign sets c.Sig to priv's signature over c's hash. The key must be c's
// author's. Docs with a signer (Doc.SetSigner) sign what they seal; Sign is
// for changes built elsewhere.
func (c *Change) Sign(priv ed25519.PrivateKey) error {
	if err := checkSigner(priv, c.Author); err != nil {
		return err
	}
	c.Sig = ed25519.Sign(priv, sigMessage(c.Hash))
	return nil
}

// Verify checks c.Sig against c's author and hash (c.Hash as given: see
// DecodeChange). It returns ErrUnsigned or ErrBadSignature.
func (c *Change) Verify() error {
	if c.Sig == nil {
		return fmt.Errorf("change %s by %s: %w", c.Hash, c.Author, ErrUnsigned)
	}
	if k := c.checked; k != nil && k.author == c.Author && k.hash == c.Hash && bytes.Equal(k.sig[:], c.Sig) {
		return nil // verified before, the same hash and signature
	}
	if !verifySig(c.Author, c.Hash, c.Sig) {
		return fmt.Errorf("change %s by %s: %w", c.Hash, c.Author, ErrBadSignature)
	}
	if len(c.Sig) == ed25519.SignatureSize {
		k := &sigCheck{author: c.Author, hash: c.Hash}
		copy(k.sig[:], c.Sig)
		c.checked = k
	}
	return nil
}

// verifySig checks a change signature by the one rule every replica
// applies to every signature (access.VerifySignature: canonical encodings,
// no small-order keys, cofactored), so replicas agree on crafted
// signatures too; it is also about twice as fast as crypto/ed25519 here.
func verifySig(a Author, h Hash, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && access.VerifySignature(access.Key(a), sigMessage(h), sig)
}

func checkSigner(priv ed25519.PrivateKey, a Author) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("signer: %w: key of %d bytes", ErrInvalid, len(priv))
	}
	pub, _ := priv.Public().(ed25519.PublicKey)
	if !bytes.Equal(pub, a[:]) {
		return fmt.Errorf("signer: %w: key %x is not author %s", ErrInvalid, pub[:6], a)
	}
	return nil
}

// EncodeSigned returns c's signed wire form, for gossip: the version byte
// 0x81, the 64-byte signature, then the canonical encoding (Encode). c must
// be signed.
func (c *Change) EncodeSigned() ([]byte, error) {
	if len(c.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("encode change %s: %w", c.Hash, ErrUnsigned)
	}
	b := make([]byte, 0, 1+ed25519.SignatureSize+64)
	b = append(append(b, signedChangeVersion), c.Sig...)
	return appendChangeBody(b, c), nil
}

// DecodeSignedChange decodes a change of document id in the form
// EncodeSigned returns and checks its signature. Like DecodeChange it
// accepts only the canonical encoding, allocates in proportion to b and
// sets Hash. Errors wrap ErrInvalid (format) or ErrBadSignature.
func DecodeSignedChange(id DocID, b []byte) (*Change, error) {
	const head = 1 + ed25519.SignatureSize
	if len(b) < head {
		return nil, invalidf("signed change: truncated: %d bytes", len(b))
	}
	if b[0] != signedChangeVersion {
		return nil, invalidf("signed change: unknown version %#x", b[0])
	}
	c, err := DecodeChange(id, b[head:])
	if err != nil {
		return nil, fmt.Errorf("signed change: %w", err)
	}
	c.Sig = slices.Clone(b[1:head])
	if err := c.Verify(); err != nil {
		return nil, err
	}
	return c, nil
}

// SetSigner makes d sign every change it seals with priv, which must be
// the key of d's author. Changes sealed but not yet returned by Seal are
// signed now. A nil key stops signing.
func (d *Doc) SetSigner(priv ed25519.PrivateKey) error {
	if priv == nil {
		d.signer = nil
		return nil
	}
	if err := checkSigner(priv, d.author); err != nil {
		return err
	}
	d.signer = priv
	for _, c := range d.sealed {
		if c.Sig == nil {
			d.signLocal(c)
		}
	}
	return nil
}

// signLocal signs a change d sealed and retains the signature.
func (d *Doc) signLocal(c *Change) {
	c.Sig = ed25519.Sign(d.signer, sigMessage(c.Hash))
	d.sigs.add(c.Author, c.Seq+uint64(c.Len()), c.Sig)
}

// SetVerify turns signature checks of remote input on or off (off for a
// new, decoded or loaded Doc; DecodeVerified returns one with them on).
// When on, Apply and ApplyEncoded recompute every new change's hash and
// accept a change only if it carries a valid signature by its author or is
// in the causal past (followed through hash links) of a validly signed
// change of the same author in the same input; anything else is rejected
// (ErrHashMismatch, ErrBadSignature, ErrUnsigned) before it is buffered or
// applied, and never stored. With checks off (a device loading its own
// store, which holds only changes it checked when they arrived) nothing is
// verified, signatures included: a store read costs no ed25519 work.
// Turning checks on drops the changes buffered for missing parents, which
// were not checked: catch-up resends them.
func (d *Doc) SetVerify(on bool) {
	if on && !d.verify {
		d.pending = pending{}
	}
	d.verify = on
}

// SetAdmit installs a hook that Apply and ApplyEncoded call for every new
// remote change after its signature checks and before it is buffered or
// applied; a change it returns an error for is rejected (ErrNotAdmitted,
// wrapping the hook's error) and not stored. The hook must not call d. It
// is where an application checks the author's capabilities. nil removes
// it.
func (d *Doc) SetAdmit(admit func(c *Change) error) { d.admit = admit }

// sigEntry is a retained signature: of the change of an author whose ops
// end (exclusive) at sequence number end.
type sigEntry struct {
	end uint64
	sig [ed25519.SignatureSize]byte
}

// sigTable holds the retained signatures per author, ascending by end.
type sigTable map[Author][]sigEntry

func sigBucket(end uint64) uint64 { return (end - 1) / SigSpacing }

// add retains sig, of author a's change ending at end, if it is the last
// change of its bucket held so far.
func (t *sigTable) add(a Author, end uint64, sig []byte) {
	if *t == nil {
		*t = sigTable{}
	}
	es := (*t)[a]
	i, found := slices.BinarySearchFunc(es, end, func(e sigEntry, end uint64) int {
		switch {
		case e.end < end:
			return -1
		case e.end > end:
			return 1
		}
		return 0
	})
	if found {
		return
	}
	b := sigBucket(end)
	if i < len(es) && sigBucket(es[i].end) == b {
		return // a later change of the same bucket is retained
	}
	var e sigEntry
	e.end = end
	copy(e.sig[:], sig)
	if i > 0 && sigBucket(es[i-1].end) == b {
		es[i-1] = e
	} else {
		es = slices.Insert(es, i, e)
	}
	(*t)[a] = es
}

// sigsByChange maps the index of every change whose signature d retains
// to it.
func (d *Doc) sigsByChange() map[int]*[ed25519.SignatureSize]byte {
	l := d.log
	out := map[int]*[ed25519.SignatureSize]byte{}
	for a, es := range d.sigs {
		agent, ok := l.agentIdx[a]
		if !ok {
			continue
		}
		for i := range es {
			lv := l.lvOf(agent, es[i].end-1)
			if lv < 0 {
				continue
			}
			ci := l.changeAt(lv)
			if ci >= 0 && l.changeEnd(ci) == lv+1 {
				out[ci] = &es[i].sig
			}
		}
	}
	return out
}

// retainedSig returns the retained signature of change ci, or nil.
func (d *Doc) retainedSig(ci int) []byte {
	l := d.log
	start, end := l.changes[ci], l.changeEnd(ci)
	agent, seq := l.agentAt(start)
	es := d.sigs[l.agents[agent]]
	want := seq + uint64(end-start)
	i, found := slices.BinarySearchFunc(es, want, func(e sigEntry, end uint64) int {
		switch {
		case e.end < end:
			return -1
		case e.end > end:
			return 1
		}
		return 0
	})
	if !found {
		return nil
	}
	return slices.Clone(es[i].sig[:])
}

// Signatures returns how many signatures d retains.
func (d *Doc) Signatures() int {
	n := 0
	for _, es := range d.sigs {
		n += len(es)
	}
	return n
}

// screen checks new remote changes before they are buffered or applied:
// hashes (when d verifies and hashed is false: the caller did not compute
// them), signatures, coverage of unsigned changes, and the admission hook.
// It returns the changes that pass, in order, and an error for each one
// that does not.
func (d *Doc) screen(cs []*Change, hashed bool) ([]*Change, []error) {
	var errs []error
	fresh := make([]*Change, 0, len(cs))
	var waiting []*Change // in the input and already buffered (checked then)
	for _, c := range cs {
		if p := d.pending.byHash[c.Hash]; p != nil {
			waiting = append(waiting, p)
			continue
		}
		if d.Has(c.Hash) {
			continue // a duplicate: Apply skips it
		}
		if d.verify && !hashed {
			if err := checkHash(d.id, c); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if d.verify && c.Sig != nil {
			if err := c.Verify(); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		fresh = append(fresh, c)
	}
	if d.verify {
		covered := coverage(append(fresh, waiting...))
		ok := fresh[:0]
		for i, c := range fresh {
			if covered[i] {
				ok = append(ok, c)
			} else {
				errs = append(errs, fmt.Errorf("change %s by %s: %w: no signed later change of its author in the input covers it", c.Hash, c.Author, ErrUnsigned))
			}
		}
		fresh = ok
	}
	if d.admit != nil {
		ok := fresh[:0]
		for _, c := range fresh {
			if err := d.admit(c); err != nil {
				errs = append(errs, fmt.Errorf("change %s by %s: %w: %w", c.Hash, c.Author, ErrNotAdmitted, err))
				continue
			}
			ok = append(ok, c)
		}
		fresh = ok
	}
	return fresh, errs
}

// coverage reports for each change of cs (hashes checked, signatures
// valid where present) whether it is signed or in the causal past of a
// signed change of the same author in cs, following parent hashes.
func coverage(cs []*Change) []bool {
	covered := make([]bool, len(cs))
	idx := make(map[Hash]int, len(cs))
	var need []Author // authors with an unsigned change
	for i, c := range cs {
		idx[c.Hash] = i
		if c.Sig != nil {
			covered[i] = true
		} else if !slices.Contains(need, c.Author) {
			need = append(need, c.Author)
		}
	}
	seen := make([]int, len(cs)) // the walk (1 + index in need) that reached each change
	var stack []int
	for w, a := range need {
		stack = stack[:0]
		for i, c := range cs {
			if c.Sig != nil && c.Author == a {
				stack = append(stack, i)
				seen[i] = w + 1
			}
		}
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if cs[i].Author == a {
				covered[i] = true
			}
			for _, p := range cs[i].Parents {
				if j, ok := idx[p]; ok && seen[j] != w+1 {
					seen[j] = w + 1
					stack = append(stack, j)
				}
			}
		}
	}
	return covered
}

// checkHash checks that c is canonical and that c.Hash is its hash in
// document id.
func checkHash(id DocID, c *Change) error {
	if err := checkCanonical(c); err != nil {
		return fmt.Errorf("change %s: %w", c.Hash, err)
	}
	if h := hashPrefixed(appendChangeBody(hashPrefix(nil, id), c)); h != c.Hash {
		return fmt.Errorf("change %s by %s: %w: content hashes to %s", c.Hash, c.Author, ErrHashMismatch, h)
	}
	return nil
}

// checkCanonical checks what DecodeChange checks of a change built in
// memory: the form its hash is defined over.
func checkCanonical(c *Change) error {
	for i := 1; i < len(c.Parents); i++ {
		if bytes.Compare(c.Parents[i-1][:], c.Parents[i][:]) >= 0 {
			return invalidf("parents not sorted and unique")
		}
	}
	if len(c.Ops) == 0 {
		return invalidf("no ops")
	}
	total := 0
	for i := range c.Ops {
		op := &c.Ops[i]
		switch {
		case op.Kind != Insert && op.Kind != Delete:
			return invalidf("op kind %d", op.Kind)
		case op.Len <= 0 || op.Len > MaxChangeOps:
			return invalidf("op length %d", op.Len)
		case op.Pos < 0 || op.Pos > maxPos:
			return invalidf("op position %d", op.Pos)
		case op.Rev && (op.Kind == Insert || op.Len == 1):
			return invalidf("non-canonical op direction")
		case op.Kind == Delete && op.Text != "":
			return invalidf("delete with text")
		case op.Kind == Insert && (!utf8.ValidString(op.Text) || utf8.RuneCountInString(op.Text) != op.Len):
			return invalidf("insert text does not hold %d code points", op.Len)
		}
		if total += op.Len; total > MaxChangeOps {
			return invalidf("more than %d ops", MaxChangeOps)
		}
		if i > 0 {
			if take, _ := opTake(&c.Ops[i-1], op); take > 0 {
				return invalidf("non-canonical op runs")
			}
		}
	}
	return nil
}

// EncodeBatch returns the next batch of a catch-up for a peer at since, and
// whether changes remain after it. The batch is an encoding (as
// EncodeSince) of a prefix of the canonical order of the changes since
// lacks, so it is causally closed, chosen so that every author's last
// change in it is one whose signature d retains (or, for an author with no
// retained signature after it, simply the author's change): a peer that
// verifies can check it on its own. The receiver applies it with
// ApplyEncoded; the sender continues with since set to the receiver's new
// Vector, until more is false. Repeated batches deliver every change
// exactly once.
//
// The batch is the longest such prefix whose encoding fits in maxBytes.
// It is larger only when the shortest such prefix is: it then ends at each
// author's first cut point, so it holds per author at most the ops between
// two retained signatures, SigSpacing plus one change when the author
// signed every seal (one change of up to MaxChangeOps ops at worst), plus
// the changes of other authors the canonical order puts among them.
//
// Limitation: retained signatures are spaced per author, so when several
// authors keep interleaving their changes the points where all of them end
// at a retained signature can be far apart (an author with fewer than
// SigSpacing ops has only its latest); the batch then runs to the next
// such point, at worst the whole remainder.
func (d *Doc) EncodeBatch(since Vector, maxBytes int) (data []byte, more bool) {
	d.sealOpen()
	order := d.canonicalOrder(d.changesSince(since))
	if len(order) == 0 {
		return d.encodeChanges(order), false
	}
	cum, clean := d.batchCuts(order)
	// Pick by estimated size, then correct the estimate by the real one.
	pick := func(budget int) int {
		k := clean[0]
		for _, c := range clean {
			if cum[c] > budget {
				break
			}
			k = c
		}
		return k
	}
	bestK, budget := -1, maxBytes
	tried := map[int]bool{}
	for range 5 {
		k := pick(budget)
		if tried[k] {
			break
		}
		tried[k] = true
		enc := d.encodeChanges(order[:k])
		fits := len(enc) <= maxBytes
		if fits && k > bestK || bestK < 0 && k == clean[0] {
			bestK, data = k, enc
		}
		if fits && (k == len(order) || len(enc) >= maxBytes*9/10) {
			break
		}
		if !fits && k == clean[0] {
			break
		}
		// Scale the budget by how far the estimate was off.
		budget = int(float64(cum[k]) * float64(maxBytes) / float64(len(enc)) * 0.97)
	}
	if bestK < 0 {
		bestK = clean[0]
		data = d.encodeChanges(order[:bestK])
	}
	return data, bestK < len(order)
}

// batchCuts returns, for the changes of order, the estimated encoded size
// of each prefix (cum[k]: the first k changes) and the prefix lengths at
// which every author's last change is a cut point: a change whose
// signature d retains, or one after the author's last retained signature.
func (d *Doc) batchCuts(order []int) (cum []int, clean []int) {
	l := d.log
	sigOf := d.sigsByChange()
	lastSig := make([]uint64, len(l.agents)) // end of each author's last retained signature
	for agent, a := range l.agents {
		if es := d.sigs[a]; len(es) > 0 {
			lastSig[agent] = es[len(es)-1].end
		}
	}
	cum = make([]int, len(order)+1)
	cum[0] = 24 // magic, id, counts
	atCut := make([]bool, len(l.agents))
	seen := make([]bool, len(l.agents))
	dirty := 0
	for i, ci := range order {
		start, end := l.changes[ci], l.changeEnd(ci)
		agent, seq := l.agentAt(start)
		cost := 3 + d.opBytes(start, end)
		if !seen[agent] {
			seen[agent] = true
			atCut[agent] = true
			cost += 34
		}
		cut := sigOf[ci] != nil || seq+uint64(end-start) > lastSig[agent]
		if sigOf[ci] != nil {
			cost += 1 + ed25519.SignatureSize
		}
		if atCut[agent] && !cut {
			dirty++
		} else if !atCut[agent] && cut {
			dirty--
		}
		atCut[agent] = cut
		cum[i+1] = cum[i] + cost
		if dirty == 0 {
			clean = append(clean, i+1)
		}
	}
	return cum, clean
}

// opBytes estimates the encoded size of the ops [start, end): a few bytes
// per op run and the text.
func (d *Doc) opBytes(start, end int) int {
	l := d.log
	n := 0
	for s := start; s < end; {
		ri := l.opIndex(s)
		r := &l.ops[ri]
		i, j := s-r.lv, min(end, r.end())-r.lv
		n += 3
		if r.kind == Insert {
			bs, be := l.runByteRange(ri, i, j)
			n += be - bs
		}
		s += j - i
	}
	return n
}
