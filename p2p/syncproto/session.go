package syncproto

import (
	"errors"
	"fmt"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

// Replica is one document as a Session sees it. The app implements it over
// its crdt.Doc and crdt/access; the Session calls it from the goroutine
// that drives the session, so an implementation must serialise these calls
// with the document's other users (its owner goroutine).
type Replica interface {
	// Vector returns the replica's current version vector.
	Vector() crdt.Vector
	// EncodeBatch returns the oldest changes not covered by since, encoded,
	// in at most about maxBytes (a single change larger than maxBytes comes
	// alone), and whether more remain. Empty data means nothing is missing.
	EncodeBatch(since crdt.Vector, maxBytes int) (data []byte, more bool)
	// ApplyBatch verifies and applies changes another replica sent from its
	// EncodeBatch. from is the sending device's key, authenticated by the
	// transport. Changes that fail signature or capability checks are
	// dropped (the vector then shows they are missing); an error means data
	// is malformed and ends the session.
	ApplyBatch(from access.Key, data []byte) error
	// Proof returns this device's proof of read capability on the document
	// (an encoded token chain whose audience is this device's key).
	Proof() []byte
	// CheckProof reports whether proof grants the device remote at least
	// read on the document, now; nil means yes.
	CheckProof(remote access.Key, proof []byte) error
}

// Lookup finds the replica of a document a responder holds, or false.
type Lookup func(doc crdt.DocID) (Replica, bool)

// Errors a Session ends with. Errors are wrapped; test with errors.Is.
var (
	// ErrRefused: the other side refused us, or we refused it (unknown
	// document, or a proof that does not grant read).
	ErrRefused = errors.New("syncproto: refused")
	// ErrVersion: the two sides speak no common version.
	ErrVersion = errors.New("syncproto: unsupported protocol version")
	// ErrProtocol: a message arrived out of order or made no sense.
	ErrProtocol = errors.New("syncproto: protocol violation")
	// ErrRejected: a batch could not be applied.
	ErrRejected = errors.New("syncproto: batch rejected")
	// ErrNoProgress: a batch was acknowledged without the vector moving.
	ErrNoProgress = errors.New("syncproto: no progress")
	// ErrClosed: Step was called after the session ended.
	ErrClosed = errors.New("syncproto: session over")
)

var codeErrs = map[Code]error{
	CodeRefused: ErrRefused, CodeVersion: ErrVersion, CodeProtocol: ErrProtocol,
	CodeRejected: ErrRejected, CodeNoProgress: ErrNoProgress,
}

// Config tunes a Session. The zero value is the default.
type Config struct {
	// BatchBytes is the size asked of EncodeBatch; 0 means DefaultBatchBytes.
	// Values over MaxFrameSize/2 are lowered to it.
	BatchBytes int
}

type state uint8

const (
	stateAwaitHello state = iota // initiator: Hello sent; responder: nothing yet
	stateAwaitHave               // hellos checked, our Have sent
	stateRunning                 // vectors exchanged: batches flow
	stateFinished
	stateFailed
)

// Session is one side of one sync session on one document. It is a plain
// value driven by one goroutine: Start (initiator only), then Step with each
// message received, sending what they return, in order. When Finished
// reports true, or Step returns an error, the session is over and the
// transport closes the stream after sending the returned messages.
type Session struct {
	initiator bool
	lookup    Lookup
	replica   Replica
	remote    access.Key
	doc       crdt.DocID
	batch     int
	state     state

	since      crdt.Vector // the other side's vector as last acknowledged
	awaitAck   bool        // a batch of ours is unacknowledged
	sentDone   bool
	recvDone   bool
	sentBytes  int64 // batch payload bytes sent
	recvBatchN int   // batches received
}

// NewInitiator returns the session of the side that opens the stream to
// remote (the key the transport authenticated) about doc.
func NewInitiator(r Replica, doc crdt.DocID, remote access.Key, cfg Config) *Session {
	return &Session{initiator: true, replica: r, doc: doc, remote: remote, batch: batchBytes(cfg)}
}

// NewResponder returns the session of the side that accepted a stream from
// remote; the document is named by the initiator's Hello and found with
// lookup.
func NewResponder(lookup Lookup, remote access.Key, cfg Config) *Session {
	return &Session{lookup: lookup, remote: remote, batch: batchBytes(cfg)}
}

func batchBytes(cfg Config) int {
	switch {
	case cfg.BatchBytes <= 0:
		return DefaultBatchBytes
	case cfg.BatchBytes > MaxFrameSize/2:
		return MaxFrameSize / 2
	}
	return cfg.BatchBytes
}

// Start returns the initiator's opening messages. A responder's Start
// returns nothing.
func (s *Session) Start() []Message {
	if !s.initiator {
		return nil
	}
	return []Message{{Type: TypeHello, Version: Version, Doc: s.doc, Proof: s.replica.Proof()}}
}

// Finished reports whether Done has gone both ways.
func (s *Session) Finished() bool { return s.state == stateFinished }

// Doc returns the session's document; a responder knows it once Authorized.
func (s *Session) Doc() crdt.DocID { return s.doc }

// Authorized reports whether the other side's proof was checked and
// accepted.
func (s *Session) Authorized() bool { return s.state >= stateAwaitHave && s.state != stateFailed }

// SentBytes returns the batch payload bytes this side sent.
func (s *Session) SentBytes() int64 { return s.sentBytes }

// Step handles one message from the other side and returns the messages to
// send. On error the session is over: the returned messages (an Error, when
// the other side should learn why) are still to be sent.
func (s *Session) Step(m Message) ([]Message, error) {
	switch s.state {
	case stateFinished, stateFailed:
		return nil, ErrClosed
	}
	if m.Type == TypeError {
		s.state = stateFailed
		if err, ok := codeErrs[m.Code]; ok {
			return nil, fmt.Errorf("remote ended the session: %w", err)
		}
		return nil, fmt.Errorf("%w: remote ended the session with %s", ErrProtocol, m.Code)
	}
	var out []Message
	var err error
	switch s.state {
	case stateAwaitHello:
		out, err = s.onHello(m)
	case stateAwaitHave:
		out, err = s.onHave(m)
	case stateRunning:
		out, err = s.onRunning(m)
	}
	if err != nil {
		s.state = stateFailed
	}
	return out, err
}

// fail ends the session with err, telling the other side code.
func (s *Session) fail(code Code, err error) ([]Message, error) {
	s.state = stateFailed
	return []Message{{Type: TypeError, Code: code}}, err
}

func unexpected(m Message, st string) error {
	return fmt.Errorf("%w: %s while %s", ErrProtocol, m.Type, st)
}

func (s *Session) onHello(m Message) ([]Message, error) {
	if m.Type != TypeHello {
		return s.fail(CodeProtocol, unexpected(m, "awaiting hello"))
	}
	if m.Version != Version {
		return s.fail(CodeVersion, fmt.Errorf("%w: remote speaks %d, we speak %d", ErrVersion, m.Version, Version))
	}
	if !s.initiator {
		r, ok := s.lookup(m.Doc)
		if !ok {
			return s.fail(CodeRefused, fmt.Errorf("%w: unknown document", ErrRefused))
		}
		s.replica, s.doc = r, m.Doc
	} else if m.Doc != s.doc {
		return s.fail(CodeProtocol, fmt.Errorf("%w: hello for another document", ErrProtocol))
	}
	if err := s.replica.CheckProof(s.remote, m.Proof); err != nil {
		return s.fail(CodeRefused, fmt.Errorf("%w: %w", ErrRefused, err))
	}
	s.state = stateAwaitHave
	have := Message{Type: TypeHave, Vector: s.replica.Vector()}
	if s.initiator {
		return []Message{have}, nil
	}
	return []Message{{Type: TypeHello, Version: Version, Doc: s.doc, Proof: s.replica.Proof()}, have}, nil
}

func (s *Session) onHave(m Message) ([]Message, error) {
	if m.Type != TypeHave {
		return s.fail(CodeProtocol, unexpected(m, "awaiting have"))
	}
	s.since = m.Vector
	s.state = stateRunning
	return s.next(), nil
}

// next returns our next batch, or Done when the other side lacks nothing.
func (s *Session) next() []Message {
	data, _ := s.replica.EncodeBatch(s.since, s.batch)
	if len(data) == 0 {
		s.sentDone = true
		s.finishIfDone()
		return []Message{{Type: TypeDone}}
	}
	s.awaitAck = true
	s.sentBytes += int64(len(data))
	return []Message{{Type: TypeBatch, Data: data}}
}

func (s *Session) finishIfDone() {
	if s.sentDone && s.recvDone && !s.awaitAck {
		s.state = stateFinished
	}
}

func (s *Session) onRunning(m Message) ([]Message, error) {
	switch m.Type {
	case TypeBatch:
		if s.recvDone {
			return s.fail(CodeProtocol, unexpected(m, "the other side said done"))
		}
		if err := s.replica.ApplyBatch(s.remote, m.Data); err != nil {
			return s.fail(CodeRejected, fmt.Errorf("%w: %w", ErrRejected, err))
		}
		s.recvBatchN++
		return []Message{{Type: TypeAck, Vector: s.replica.Vector()}}, nil
	case TypeAck:
		if !s.awaitAck {
			return s.fail(CodeProtocol, unexpected(m, "no batch is unacknowledged"))
		}
		if !m.Vector.Covers(s.since) {
			return s.fail(CodeProtocol, fmt.Errorf("%w: acknowledged vector went backwards", ErrProtocol))
		}
		if s.since.Covers(m.Vector) {
			return s.fail(CodeNoProgress, fmt.Errorf("%w: batch acknowledged with an unchanged vector", ErrNoProgress))
		}
		s.since, s.awaitAck = m.Vector, false
		return s.next(), nil
	case TypeDone:
		if s.recvDone {
			return s.fail(CodeProtocol, unexpected(m, "done twice"))
		}
		s.recvDone = true
		s.finishIfDone()
		return nil, nil
	}
	return s.fail(CodeProtocol, unexpected(m, "syncing"))
}
