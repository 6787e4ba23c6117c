package app

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

// Live messages on a document's topic. Each starts with a kind byte:
//
//	msgChange   uvarint proof length, the author's proof token (or none),
//	            then the signed change (crdt's signed encoding)
//	msgRecords  uvarint count, that many (uvarint length, token);
//	            uvarint count, that many (uvarint length, cut record:
//	            a revocation placed at the revoker's heads, see cut)
//	msgRecordsResent  uvarint attempt (1, 2, ...), then as msgRecords:
//	            the same records sent again. Gossip names a message by a
//	            hash of its bytes and drops a second publication of the
//	            same bytes, so a resend must differ; receivers treat it as
//	            msgRecords.
//
// A catch-up batch is a records block (as msgRecords, without the kind
// byte) followed by a crdt batch encoding.
const (
	msgChange        = 1
	msgRecords       = 2
	msgRecordsResent = 3
)

// Limits on what peers send.
const (
	// MaxLiveMessage bounds a live message. A change that encodes larger
	// (a huge paste) is not gossiped; peers fetch it by catch-up, which
	// runs at once.
	MaxLiveMessage = 256 << 10
	// maxRecords bounds the proofs or revocations in one message.
	maxRecords = 4096
)

var errWire = errors.New("malformed message")

// reader decodes untrusted bytes; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.fail("truncated")
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

// count reads a uvarint that must be at most limit.
func (r *reader) count(limit int) int {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	if v > uint64(limit) {
		r.fail("count %d over limit %d", v, limit)
		return 0
	}
	return int(v)
}

// encodeLive returns the live message for a change of this device.
func (a *docActor) encodeLive(c *crdt.Change) []byte {
	a.access.mu.Lock()
	own := a.access.own
	a.access.mu.Unlock()
	proof := own.Encode()
	b := []byte{msgChange}
	b = binary.AppendUvarint(b, uint64(len(proof)))
	b = append(b, proof...)
	enc, err := c.EncodeSigned()
	if err != nil {
		// Seal signs every change; an unsigned one is a bug.
		panic("app: " + err.Error())
	}
	return append(b, enc...)
}

// liveMsg is a decoded live message.
type liveMsg struct {
	kind   byte
	proof  *access.Token
	change *crdt.Change
	proofs []*access.Token
	revs   []*cut
}

func decodeLive(id crdt.DocID, b []byte) (*liveMsg, error) {
	if len(b) > MaxLiveMessage {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", errWire, len(b), MaxLiveMessage)
	}
	r := reader{b: b}
	m := &liveMsg{kind: r.byte()}
	switch m.kind {
	case msgChange:
		if n := r.count(access.MaxTokenSize); n > 0 {
			t, err := access.Decode(r.bytes(n))
			if err != nil && r.err == nil {
				return nil, fmt.Errorf("%w: proof: %w", errWire, err)
			}
			m.proof = t
		}
		if r.err != nil {
			return nil, fmt.Errorf("%w: %w", errWire, r.err)
		}
		c, err := crdt.DecodeSignedChange(id, r.b)
		if err != nil {
			return nil, fmt.Errorf("%w: change: %w", errWire, err)
		}
		m.change = c
		return m, nil
	case msgRecords, msgRecordsResent:
		if m.kind == msgRecordsResent {
			attempt := r.count(1 << 20)
			if r.err != nil {
				return nil, fmt.Errorf("%w: %w", errWire, r.err)
			}
			if attempt == 0 {
				return nil, fmt.Errorf("%w: resend attempt 0", errWire)
			}
			m.kind = msgRecords
		}
		var err error
		m.proofs, m.revs, err = decodeRecords(&r)
		if err != nil {
			return nil, err
		}
		if len(r.b) != 0 {
			return nil, fmt.Errorf("%w: %d trailing bytes", errWire, len(r.b))
		}
		return m, nil
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", errWire, r.err)
	}
	return nil, fmt.Errorf("%w: unknown kind %d", errWire, m.kind)
}

// encodeRecords appends a live records message (or, with b already
// holding something, a records block) of proofs and revocations.
func encodeRecords(proofs []*access.Token, revs []*cut) []byte {
	return appendRecords([]byte{msgRecords}, proofs, revs)
}

// encodeRecordsResent is encodeRecords for the attempt'th resend (1, 2,
// ...) of the same records.
func encodeRecordsResent(attempt int, proofs []*access.Token, revs []*cut) []byte {
	b := binary.AppendUvarint([]byte{msgRecordsResent}, uint64(attempt))
	return appendRecords(b, proofs, revs)
}

func appendRecords(b []byte, proofs []*access.Token, revs []*cut) []byte {
	b = binary.AppendUvarint(b, uint64(len(proofs)))
	for _, t := range proofs {
		e := t.Encode()
		b = binary.AppendUvarint(b, uint64(len(e)))
		b = append(b, e...)
	}
	b = binary.AppendUvarint(b, uint64(len(revs)))
	for _, rv := range revs {
		e := rv.encode()
		b = binary.AppendUvarint(b, uint64(len(e)))
		b = append(b, e...)
	}
	return b
}

func decodeRecords(r *reader) ([]*access.Token, []*cut, error) {
	var (
		proofs []*access.Token
		revs   []*cut
	)
	n := r.count(maxRecords)
	for range n {
		e := r.bytes(r.count(access.MaxTokenSize))
		if r.err != nil {
			break
		}
		t, err := access.Decode(e)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: proof: %w", errWire, err)
		}
		proofs = append(proofs, t)
	}
	n = r.count(maxRecords)
	for range n {
		e := r.bytes(r.count(3 * access.MaxTokenSize))
		if r.err != nil {
			break
		}
		rv, err := decodeCut(e)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: revocation: %w", errWire, err)
		}
		revs = append(revs, rv)
	}
	if r.err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errWire, r.err)
	}
	return proofs, revs, nil
}
