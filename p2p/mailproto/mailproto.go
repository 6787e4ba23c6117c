// Package mailproto is the wire format of Quire's relay mailbox
// ("/quire/mailbox/1"): a relay stores a document's end-to-end encrypted
// changes for members that are offline and hands them out later, without
// being able to read them.
//
// One stream carries one exchange: the client writes a Request frame and the
// relay answers with one Response frame. A frame is a uvarint length and a
// body of at most MaxFrameSize bytes; a body is a type byte and its fields,
// integers as uvarints and byte strings as a uvarint length and the bytes.
// Decoding is strict (no trailing bytes, no field over its bound) and never
// panics on any input.
//
// The relay decides every request with access.Authorize: its own mandate
// (RelayProof, a token granting it the relay right on the document) as a
// KindRelay action, and the requester's proof as a KindRead action at the
// relay's clock, with every revocation the members have shown it applied
// to both. A Put needs at least comment rights (read-only members make no
// changes), a Get read rights.
package mailproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/quire-dev/quire/crdt"
	"github.com/quire-dev/quire/crdt/access"
)

const (
	// ProtocolID is the libp2p protocol id of a mailbox exchange.
	ProtocolID = "/quire/mailbox/1"
	// MaxBoxSize bounds one stored box (a sealed batch of changes).
	MaxBoxSize = 1 << 20
	// MaxProofSize bounds a proof field (one token chain).
	MaxProofSize = access.MaxTokenSize
	// MaxRevocations bounds the revocation records of one request.
	MaxRevocations = 64
	// MaxRevocationSize bounds one encoded revocation record.
	MaxRevocationSize = 2*access.MaxTokenSize + 256
	// MaxGetBytes bounds the boxes of one Get answer (their data summed); a
	// box is always returned whole, so an answer holds at least one box
	// when any is due even if it is larger.
	MaxGetBytes = 4 << 20
	// MaxMessageSize bounds a Msg text in an Error.
	MaxMessageSize = 1024
	// MaxFrameSize bounds a frame's body: the largest Get answer (one more
	// box than MaxGetBytes may hold, plus per-box overhead) or the largest
	// Put (a box, two proofs, the revocations).
	MaxFrameSize = MaxGetBytes + MaxBoxSize + MaxBoxesPerGet*boxOverhead + 64<<10

	// MaxBoxesPerGet bounds the boxes of one Get answer.
	MaxBoxesPerGet = 4096
	// boxOverhead bounds a box's bytes on the wire besides its data.
	boxOverhead = 3*binary.MaxVarintLen64 + len(access.Key{})
	// maxRequestSize bounds a request body, checked before it is read.
	maxRequestSize = 1 + 16 + 2*(binary.MaxVarintLen64+MaxProofSize) + binary.MaxVarintLen64 +
		MaxRevocations*(binary.MaxVarintLen64+MaxRevocationSize) + 2*binary.MaxVarintLen64 + binary.MaxVarintLen64 + MaxBoxSize
)

// MaxRequestSize is the largest request body a relay reads.
const MaxRequestSize = maxRequestSize

// Type is a frame's first byte.
type Type uint8

// The frame types.
const (
	// TypePut asks the relay to store Box for the document.
	TypePut Type = iota + 1
	// TypeGet asks for the document's boxes after a sequence number.
	TypeGet
	// TypeStored answers a Put with the box's sequence number.
	TypeStored
	// TypeBoxes answers a Get.
	TypeBoxes
	// TypeError answers either with a Code and a message.
	TypeError
)

func (t Type) String() string {
	switch t {
	case TypePut:
		return "put"
	case TypeGet:
		return "get"
	case TypeStored:
		return "stored"
	case TypeBoxes:
		return "boxes"
	case TypeError:
		return "error"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Code says why a relay refused a request.
type Code uint8

// The refusal codes.
const (
	// CodeMalformed: the request did not decode or a field is invalid.
	CodeMalformed Code = iota + 1
	// CodeNoMandate: the relay holds no valid relay capability for the
	// document (none given yet, expired, revoked, or for another root).
	CodeNoMandate
	// CodeUnauthorized: the requester's proof does not grant what the
	// request needs (or it was revoked).
	CodeUnauthorized
	// CodeFull: a quota is reached (the document's bytes or the relay's
	// document count); nothing was stored.
	CodeFull
	// CodeInternal: the relay failed (its disk); retry later.
	CodeInternal
	// CodeBusy: the relay is serving as many requests as it allows; retry
	// later.
	CodeBusy
)

func (c Code) String() string {
	switch c {
	case CodeMalformed:
		return "malformed"
	case CodeNoMandate:
		return "no relay mandate"
	case CodeUnauthorized:
		return "unauthorized"
	case CodeFull:
		return "full"
	case CodeInternal:
		return "internal"
	case CodeBusy:
		return "busy"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Errors.
var (
	// ErrMalformed reports bytes that are not a valid frame.
	ErrMalformed = errors.New("mailbox: malformed frame")
	// ErrFrameTooLarge reports a frame over its size limit.
	ErrFrameTooLarge = errors.New("mailbox: frame too large")
)

// Request is a Put or a Get.
type Request struct {
	Type Type
	Doc  crdt.DocID
	// RelayProof is a token chain granting the relay key the relay right on
	// Doc. It may be empty once the relay holds a valid one.
	RelayProof []byte
	// Proof is the requester's own token chain for Doc.
	Proof []byte
	// Revocations are encoded access.Revocation records of Doc the relay
	// should apply (at most MaxRevocations).
	Revocations [][]byte
	// After (Get) asks for boxes with a sequence number above it.
	After uint64
	// MaxBytes (Get) bounds the answer's box data; 0 or more than
	// MaxGetBytes means MaxGetBytes.
	MaxBytes uint64
	// Box (Put) is the ciphertext to store, at most MaxBoxSize bytes.
	Box []byte
}

// Box is one stored box as a Get returns it.
type Box struct {
	// Seq is the box's sequence number in its document, from 1, increasing.
	Seq uint64
	// From is the key of the device that put it.
	From access.Key
	// Time is when the relay stored it, in Unix seconds.
	Time int64
	// Data is the ciphertext.
	Data []byte
}

// Response is a relay's answer.
type Response struct {
	Type Type
	// Epoch (Stored, Boxes) names the document's mailbox on this relay: it
	// changes only if the relay lost it (a new disk) and started again, in
	// which case a client's cursor and what it put before mean nothing.
	Epoch uint64
	// Retention (Stored, Boxes) is how long the relay keeps a box, in
	// seconds; a client puts its whole document again within that time,
	// so that a member who joins later finds all of it.
	Retention uint64
	// Seq (Stored) is the new box's sequence number.
	Seq uint64
	// Boxes (Boxes) are the boxes after the request's After, in order.
	Boxes []Box
	// Next (Boxes) is the cursor for the next Get: the last box's Seq, or
	// the request's After when there are none. Boxes the relay no longer
	// holds (expired) are skipped.
	Next uint64
	// More (Boxes) says there are boxes after Next.
	More bool
	// Code and Msg (Error) say why the request was refused.
	Code Code
	Msg  string
}

// Err returns the refusal as an error (nil unless r is an Error).
func (r Response) Err() error {
	if r.Type != TypeError {
		return nil
	}
	return &RefusedError{Code: r.Code, Msg: r.Msg}
}

// RefusedError is a relay's refusal.
type RefusedError struct {
	Code Code
	Msg  string
}

func (e *RefusedError) Error() string { return fmt.Sprintf("relay refused: %v: %s", e.Code, e.Msg) }

// Refuse returns an Error response.
func Refuse(code Code, format string, args ...any) Response {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > MaxMessageSize {
		msg = msg[:MaxMessageSize]
	}
	return Response{Type: TypeError, Code: code, Msg: msg}
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Encode returns r's frame body.
func (r Request) Encode() []byte {
	b := make([]byte, 0, 64+len(r.RelayProof)+len(r.Proof)+len(r.Box))
	b = append(b, byte(r.Type))
	b = append(b, r.Doc[:]...)
	b = appendBytes(b, r.RelayProof)
	b = appendBytes(b, r.Proof)
	b = binary.AppendUvarint(b, uint64(len(r.Revocations)))
	for _, rv := range r.Revocations {
		b = appendBytes(b, rv)
	}
	switch r.Type {
	case TypeGet:
		b = binary.AppendUvarint(b, r.After)
		b = binary.AppendUvarint(b, r.MaxBytes)
	case TypePut:
		b = appendBytes(b, r.Box)
	}
	return b
}

// Encode returns r's frame body.
func (r Response) Encode() []byte {
	b := []byte{byte(r.Type)}
	switch r.Type {
	case TypeStored:
		b = binary.AppendUvarint(b, r.Epoch)
		b = binary.AppendUvarint(b, r.Retention)
		b = binary.AppendUvarint(b, r.Seq)
	case TypeBoxes:
		b = binary.AppendUvarint(b, r.Epoch)
		b = binary.AppendUvarint(b, r.Retention)
		b = binary.AppendUvarint(b, uint64(len(r.Boxes)))
		for _, x := range r.Boxes {
			b = binary.AppendUvarint(b, x.Seq)
			b = append(b, x.From[:]...)
			b = binary.AppendVarint(b, x.Time)
			b = appendBytes(b, x.Data)
		}
		b = binary.AppendUvarint(b, r.Next)
		if r.More {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case TypeError:
		b = append(b, byte(r.Code))
		b = appendBytes(b, []byte(r.Msg))
	}
	return b
}

// reader decodes fields, remembering the first error.
type reader struct {
	b       []byte
	err     error
	scratch [binary.MaxVarintLen64]byte
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format+": %w", append(args, ErrMalformed)...)
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != len(binary.AppendUvarint(r.scratch[:0], v)) {
		r.fail("%s: bad or non-minimal uvarint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 || n != len(binary.AppendVarint(r.scratch[:0], v)) {
		r.fail("%s: bad or non-minimal varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) fixed(what string, dst []byte) {
	if r.err != nil {
		return
	}
	if len(r.b) < len(dst) {
		r.fail("%s: %d bytes left, need %d", what, len(r.b), len(dst))
		return
	}
	copy(dst, r.b)
	r.b = r.b[len(dst):]
}

// bytes reads a length-prefixed field of at most limit bytes, copied out
// of the frame.
func (r *reader) bytes(what string, limit int) []byte {
	l := r.uvarint(what + " length")
	if r.err != nil {
		return nil
	}
	if l > uint64(limit) {
		r.fail("%s: %d bytes (limit %d)", what, l, limit)
		return nil
	}
	if l > uint64(len(r.b)) {
		r.fail("%s: %d bytes, only %d left", what, l, len(r.b))
		return nil
	}
	out := bytes.Clone(r.b[:l])
	if l == 0 {
		out = nil
	}
	r.b = r.b[l:]
	return out
}

func (r *reader) byte(what string) byte {
	var b [1]byte
	r.fixed(what, b[:])
	return b[0]
}

func (r *reader) end(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%s: %d trailing bytes", what, len(r.b))
	}
	return r.err
}

// DecodeRequest decodes a request body. Any caller may use it on
// untrusted bytes.
func DecodeRequest(body []byte) (Request, error) {
	r := reader{b: body}
	q := Request{Type: Type(r.byte("type"))}
	if r.err == nil && q.Type != TypePut && q.Type != TypeGet {
		return Request{}, fmt.Errorf("request type %v: %w", q.Type, ErrMalformed)
	}
	r.fixed("document", q.Doc[:])
	q.RelayProof = r.bytes("relay proof", MaxProofSize)
	q.Proof = r.bytes("proof", MaxProofSize)
	n := r.uvarint("revocation count")
	if r.err == nil && n > MaxRevocations {
		r.fail("%d revocations (limit %d)", n, MaxRevocations)
	}
	for i := uint64(0); r.err == nil && i < n; i++ {
		q.Revocations = append(q.Revocations, r.bytes("revocation", MaxRevocationSize))
	}
	switch q.Type {
	case TypeGet:
		q.After = r.uvarint("after")
		q.MaxBytes = r.uvarint("max bytes")
	case TypePut:
		q.Box = r.bytes("box", MaxBoxSize)
	}
	if err := r.end("request"); err != nil {
		return Request{}, fmt.Errorf("decode %v request: %w", q.Type, err)
	}
	return q, nil
}

// DecodeResponse decodes a response body. Any caller may use it on
// untrusted bytes.
func DecodeResponse(body []byte) (Response, error) {
	r := reader{b: body}
	p := Response{Type: Type(r.byte("type"))}
	switch p.Type {
	case TypeStored:
		p.Epoch = r.uvarint("epoch")
		p.Retention = r.uvarint("retention")
		p.Seq = r.uvarint("seq")
	case TypeBoxes:
		p.Epoch = r.uvarint("epoch")
		p.Retention = r.uvarint("retention")
		n := r.uvarint("box count")
		if r.err == nil && n > MaxBoxesPerGet {
			r.fail("%d boxes (limit %d)", n, MaxBoxesPerGet)
		}
		last := uint64(0)
		for i := uint64(0); r.err == nil && i < n; i++ {
			x := Box{Seq: r.uvarint("box seq")}
			r.fixed("box author", x.From[:])
			x.Time = r.varint("box time")
			x.Data = r.bytes("box data", MaxBoxSize)
			if r.err == nil && x.Seq <= last {
				r.fail("box seq %d after %d", x.Seq, last)
			}
			last = x.Seq
			p.Boxes = append(p.Boxes, x)
		}
		p.Next = r.uvarint("next")
		switch more := r.byte("more"); {
		case r.err != nil:
		case more > 1:
			r.fail("more flag %d", more)
		default:
			p.More = more == 1
		}
		if r.err == nil && len(p.Boxes) > 0 && p.Next != last {
			r.fail("next %d is not the last box's seq %d", p.Next, last)
		}
	case TypeError:
		p.Code = Code(r.byte("code"))
		p.Msg = string(r.bytes("message", MaxMessageSize))
	default:
		if r.err == nil {
			return Response{}, fmt.Errorf("response type %v: %w", p.Type, ErrMalformed)
		}
	}
	if err := r.end("response"); err != nil {
		return Response{}, fmt.Errorf("decode %v response: %w", p.Type, err)
	}
	return p, nil
}

// WriteFrame writes body as one frame to w.
func WriteFrame(w io.Writer, body []byte) error {
	if len(body) > MaxFrameSize {
		return fmt.Errorf("write frame of %d bytes: %w", len(body), ErrFrameTooLarge)
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(body)))
	_, err := w.Write(append(hdr[:n:n], body...))
	return err
}

// ReadFrame reads one frame body of at most maxSize bytes from r. A longer
// length is refused with ErrFrameTooLarge before the body is read, and the
// buffer grows only as bytes arrive.
func ReadFrame(r *bufio.Reader, maxSize int) ([]byte, error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("read frame length: %w", err)
	}
	if l > uint64(maxSize) {
		return nil, fmt.Errorf("frame of %d bytes (limit %d): %w", l, maxSize, ErrFrameTooLarge)
	}
	var body bytes.Buffer
	body.Grow(int(min(l, 64<<10)))
	if n, err := io.CopyN(&body, r, int64(l)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read frame of %d bytes (got %d): %w", l, n, err)
	}
	return body.Bytes(), nil
}
