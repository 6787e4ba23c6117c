package syncproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/quire-dev/quire/crdt"
)

const (
	// ProtocolID is the libp2p protocol id of the sync stream.
	ProtocolID = "/quire/sync/1.0.0"
	// Version is the protocol version this package speaks, carried in Hello.
	Version = 1
	// MaxFrameSize bounds a frame's body (type byte and payload), in bytes.
	// It must hold the largest single change (crdt.MaxChangeOps ops of
	// compressed text), since a batch never splits a change.
	MaxFrameSize = 4 << 20
	// DefaultBatchBytes is the batch size a Session asks EncodeBatch for
	// when Config.BatchBytes is zero.
	DefaultBatchBytes = 256 << 10
	// MaxProofSize bounds Hello's proof (a capability token chain).
	MaxProofSize = 16 << 10
	// authorSize is the size of a crdt.Author on the wire.
	authorSize = len(crdt.Author{})
)

// Type is a message's type, its frame's first byte.
type Type uint8

// The message types.
const (
	// TypeHello opens a session: version, document, proof of read capability.
	TypeHello Type = iota + 1
	// TypeHave carries the sender's version vector, once the proofs are checked.
	TypeHave
	// TypeBatch carries encoded changes (Replica.EncodeBatch).
	TypeBatch
	// TypeAck acknowledges a batch with the receiver's new vector.
	TypeAck
	// TypeDone says the sender has nothing more to send.
	TypeDone
	// TypeError ends the session with a Code.
	TypeError
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeHave:
		return "have"
	case TypeBatch:
		return "batch"
	case TypeAck:
		return "ack"
	case TypeDone:
		return "done"
	case TypeError:
		return "error"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Code says why a session ended with an Error message.
type Code uint8

// The error codes.
const (
	// CodeRefused: unknown document or a proof that does not grant read. The
	// two are deliberately indistinguishable.
	CodeRefused Code = iota + 1
	// CodeVersion: the protocol version is not spoken here.
	CodeVersion
	// CodeProtocol: a malformed or unexpected message.
	CodeProtocol
	// CodeRejected: a batch could not be applied.
	CodeRejected
	// CodeNoProgress: a batch was acknowledged without progress.
	CodeNoProgress
)

func (c Code) String() string {
	switch c {
	case CodeRefused:
		return "refused"
	case CodeVersion:
		return "version"
	case CodeProtocol:
		return "protocol"
	case CodeRejected:
		return "rejected"
	case CodeNoProgress:
		return "no progress"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Message is one protocol message. Which fields are meaningful depends on
// Type: Hello uses Version, Doc and Proof; Have and Ack use Vector; Batch uses
// Data; Error uses Code; Done uses none.
type Message struct {
	Type    Type
	Version uint64
	Doc     crdt.DocID
	Proof   []byte
	Vector  crdt.Vector
	Data    []byte
	Code    Code
}

// ErrMalformed reports a frame that does not decode.
var ErrMalformed = errors.New("syncproto: malformed message")

// ErrFrameTooLarge reports a frame over MaxFrameSize.
var ErrFrameTooLarge = errors.New("syncproto: frame too large")

// Encode returns m's frame body (type byte and payload), without the length
// prefix. Vectors are written sorted by author.
//
// Bodies:
//
//	Hello  version uvarint, doc [16], proof length uvarint, proof
//	Have   count uvarint, count × (author [32], ops uvarint), authors ascending
//	Batch  data (the rest, non-empty)
//	Ack    as Have
//	Done   empty
//	Error  code [1]
func (m Message) Encode() []byte {
	b := []byte{byte(m.Type)}
	switch m.Type {
	case TypeHello:
		b = binary.AppendUvarint(b, m.Version)
		b = append(b, m.Doc[:]...)
		b = binary.AppendUvarint(b, uint64(len(m.Proof)))
		b = append(b, m.Proof...)
	case TypeHave, TypeAck:
		b = appendVector(b, m.Vector)
	case TypeBatch:
		b = append(b, m.Data...)
	case TypeError:
		b = append(b, byte(m.Code))
	}
	return b
}

func appendVector(b []byte, v crdt.Vector) []byte {
	authors := make([]crdt.Author, 0, len(v))
	for a := range v {
		authors = append(authors, a)
	}
	sortAuthors(authors)
	b = binary.AppendUvarint(b, uint64(len(authors)))
	for _, a := range authors {
		b = append(b, a[:]...)
		b = binary.AppendUvarint(b, v[a])
	}
	return b
}

func sortAuthors(as []crdt.Author) {
	for i := 1; i < len(as); i++ { // insertion sort: vectors are short
		for j := i; j > 0 && bytes.Compare(as[j][:], as[j-1][:]) < 0; j-- {
			as[j], as[j-1] = as[j-1], as[j]
		}
	}
}

// Decode parses a frame body made by Encode. It never panics, allocates at
// most in proportion to body, and rejects trailing bytes, unknown types,
// empty batches and vectors that are not strictly sorted.
func Decode(body []byte) (Message, error) {
	if len(body) == 0 {
		return Message{}, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if len(body) > MaxFrameSize {
		return Message{}, ErrFrameTooLarge
	}
	m := Message{Type: Type(body[0])}
	r := body[1:]
	var err error
	switch m.Type {
	case TypeHello:
		m, r, err = decodeHello(m, r)
	case TypeHave, TypeAck:
		m.Vector, r, err = decodeVector(r)
	case TypeBatch:
		if len(r) == 0 {
			return Message{}, fmt.Errorf("%w: empty batch", ErrMalformed)
		}
		m.Data, r = r, nil
	case TypeDone:
	case TypeError:
		if len(r) < 1 {
			return Message{}, fmt.Errorf("%w: error without code", ErrMalformed)
		}
		m.Code, r = Code(r[0]), r[1:]
	default:
		return Message{}, fmt.Errorf("%w: unknown type %d", ErrMalformed, body[0])
	}
	if err != nil {
		return Message{}, err
	}
	if len(r) != 0 {
		return Message{}, fmt.Errorf("%w: %d trailing bytes after %s", ErrMalformed, len(r), m.Type)
	}
	return m, nil
}

func decodeHello(m Message, r []byte) (Message, []byte, error) {
	v, n := binary.Uvarint(r)
	if n <= 0 {
		return m, nil, fmt.Errorf("%w: hello version", ErrMalformed)
	}
	m.Version, r = v, r[n:]
	if len(r) < len(m.Doc) {
		return m, nil, fmt.Errorf("%w: hello document id", ErrMalformed)
	}
	copy(m.Doc[:], r)
	r = r[len(m.Doc):]
	l, n := binary.Uvarint(r)
	if n <= 0 || l > MaxProofSize || l > uint64(len(r)-n) {
		return m, nil, fmt.Errorf("%w: hello proof length", ErrMalformed)
	}
	r = r[n:]
	m.Proof, r = r[:l:l], r[l:]
	return m, r, nil
}

func decodeVector(r []byte) (crdt.Vector, []byte, error) {
	count, n := binary.Uvarint(r)
	if n <= 0 || count > uint64(len(r)-n)/uint64(authorSize+1) {
		return nil, nil, fmt.Errorf("%w: vector length", ErrMalformed)
	}
	r = r[n:]
	v := make(crdt.Vector, count)
	var prev crdt.Author
	for i := range count {
		if len(r) < authorSize {
			return nil, nil, fmt.Errorf("%w: vector entry %d", ErrMalformed, i)
		}
		var a crdt.Author
		copy(a[:], r)
		if i > 0 && bytes.Compare(prev[:], a[:]) >= 0 {
			return nil, nil, fmt.Errorf("%w: vector authors not strictly ascending", ErrMalformed)
		}
		prev = a
		ops, n := binary.Uvarint(r[authorSize:])
		if n <= 0 {
			return nil, nil, fmt.Errorf("%w: vector entry %d count", ErrMalformed, i)
		}
		v[a] = ops
		r = r[authorSize+n:]
	}
	return v, r, nil
}

// AppendFrame appends m as a frame (uvarint length, then body) to b.
func AppendFrame(b []byte, m Message) []byte {
	body := m.Encode()
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// WriteMessage writes m as one frame to w. It refuses a frame over
// MaxFrameSize with ErrFrameTooLarge, writing nothing.
func WriteMessage(w io.Writer, m Message) error {
	body := m.Encode()
	if len(body) > MaxFrameSize {
		return fmt.Errorf("write %s of %d bytes: %w", m.Type, len(body), ErrFrameTooLarge)
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(body)))
	if _, err := w.Write(append(hdr[:n:n], body...)); err != nil {
		return fmt.Errorf("write %s: %w", m.Type, err)
	}
	return nil
}

// HelloFrameSize bounds the frames read before the other side's proof is
// checked (a Hello with the largest proof fits), so an unauthenticated
// peer cannot make a reader reserve MaxFrameSize.
const HelloFrameSize = MaxProofSize + 64

// ReadMessage reads and decodes one frame from r. A length over maxSize
// (at most MaxFrameSize) is refused with ErrFrameTooLarge before the body
// is read, and the body's buffer grows only as its bytes arrive, so a peer
// that announces a large frame and sends it slowly holds only what it
// sent. io.EOF means r ended cleanly between frames.
func ReadMessage(r *bufio.Reader, maxSize int) (Message, error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Message{}, io.EOF
		}
		return Message{}, fmt.Errorf("read frame length: %w", err)
	}
	if l > uint64(min(maxSize, MaxFrameSize)) {
		return Message{}, fmt.Errorf("frame of %d bytes (limit %d): %w", l, min(maxSize, MaxFrameSize), ErrFrameTooLarge)
	}
	var body bytes.Buffer
	body.Grow(int(min(l, 64<<10)))
	if n, err := io.CopyN(&body, r, int64(l)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Message{}, fmt.Errorf("read frame of %d bytes (got %d): %w", l, n, err)
	}
	return Decode(body.Bytes())
}
