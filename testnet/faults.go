package testnet

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quire-dev/quire/crdt/access"
	"github.com/quire-dev/quire/p2p"
)

// Faults are the message-level faults a Net injects, as probabilities in
// [0, 1] per message and receiving peer. They hit the boundary between
// the p2p node and the app (p2p.Sim.WrapHandler), not the wire: the
// libp2p streams underneath stay intact, as they would over TCP or QUIC.
type Faults struct {
	// Drop is the chance that a live change message is refused at a
	// receiver's validation (p2p.Ignore): the receiver neither applies nor
	// forwards it, as if the packet was lost on that hop. Only catch-up
	// sync can repair it.
	Drop float64
	// Dup is the chance that a live message reaching the app is delivered
	// twice, and that a sync batch is applied twice.
	Dup float64
	// Reorder is the chance that a live message is held back and delivered
	// after the next messages of its document (or at Net.Release).
	Reorder float64
}

// maxHeld bounds the live messages a receiver holds back per document for
// reordering; when full, the oldest is delivered at once.
const maxHeld = 8

// FaultStats counts the faults injected so far.
type FaultStats struct {
	Dropped, Duplicated, Reordered, DupBatches uint64
}

type faultCounters struct {
	dropped, duplicated, reordered, dupBatches atomic.Uint64
}

func (c *faultCounters) stats() FaultStats {
	return FaultStats{c.dropped.Load(), c.duplicated.Load(), c.reordered.Load(), c.dupBatches.Load()}
}

// decider turns (seed, receiver, message, purpose) into a fault decision:
// a pure function, so one message meets the same fate at one receiver
// whatever the goroutine interleaving.
type decider struct {
	seed     uint64
	receiver string
}

func (d decider) roll(purpose byte, payload []byte) float64 {
	h := sha256.New()
	var b [9]byte
	binary.LittleEndian.PutUint64(b[:8], d.seed)
	b[8] = purpose
	h.Write(b[:])
	h.Write([]byte(d.receiver))
	h.Write(payload)
	sum := h.Sum(nil)
	return float64(binary.LittleEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// faultyHandler wraps one document's p2p.DocHandler at one peer.
type faultyHandler struct {
	p2p.DocHandler
	faults *atomic.Pointer[Faults]
	dec    decider
	count  *faultCounters

	mu   sync.Mutex
	held []heldMsg // bounded by maxHeld
}

type heldMsg struct {
	from    peer.ID
	kind    p2p.Kind
	payload []byte
}

func (f *faultyHandler) Validate(from peer.ID, kind p2p.Kind, payload []byte) p2p.Verdict {
	if kind == p2p.KindChange && f.dec.roll('d', payload) < f.faults.Load().Drop {
		f.count.dropped.Add(1)
		return p2p.Ignore
	}
	return f.DocHandler.Validate(from, kind, payload)
}

// Deliver is called from one goroutine per document and kind; held
// messages are delivered from whichever goroutine releases them, which
// the app allows (its handler only posts to the document's goroutine).
func (f *faultyHandler) Deliver(from peer.ID, kind p2p.Kind, payload []byte) {
	fl := f.faults.Load()
	if kind == p2p.KindChange && f.dec.roll('r', payload) < fl.Reorder {
		f.count.reordered.Add(1)
		f.mu.Lock()
		var out []heldMsg
		if len(f.held) == maxHeld {
			out = append(out, f.held[0])
			f.held = f.held[1:]
		}
		f.held = append(f.held, heldMsg{from, kind, payload})
		f.mu.Unlock()
		f.deliver(out)
		return
	}
	f.DocHandler.Deliver(from, kind, payload)
	if f.dec.roll('u', payload) < fl.Dup {
		f.count.duplicated.Add(1)
		f.DocHandler.Deliver(from, kind, payload)
	}
	f.release()
}

// release delivers every held message, oldest first.
func (f *faultyHandler) release() {
	f.mu.Lock()
	out := f.held
	f.held = nil
	f.mu.Unlock()
	f.deliver(out)
}

func (f *faultyHandler) deliver(ms []heldMsg) {
	for _, m := range ms {
		f.DocHandler.Deliver(m.from, m.kind, m.payload)
	}
}

// ApplyBatch applies a sync batch, twice when the Dup fault strikes.
func (f *faultyHandler) ApplyBatch(from access.Key, data []byte) error {
	if err := f.DocHandler.ApplyBatch(from, data); err != nil {
		return err
	}
	if f.dec.roll('b', data) < f.faults.Load().Dup {
		f.count.dupBatches.Add(1)
		return f.DocHandler.ApplyBatch(from, data)
	}
	return nil
}
