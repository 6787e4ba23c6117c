package mailproto

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleRequests() []Request {
	return []Request{
		{Type: TypePut, Doc: [16]byte{1, 2}, RelayProof: []byte("relay"), Proof: []byte("proof"),
			Revocations: [][]byte{[]byte("r1"), []byte("r2")}, Box: []byte("ciphertext")},
		{Type: TypePut, Doc: [16]byte{3}, Box: []byte{0}},
		{Type: TypeGet, Doc: [16]byte{4}, Proof: []byte("p"), After: 1 << 40, MaxBytes: 12345},
		{Type: TypeGet},
	}
}

func sampleResponses() []Response {
	return []Response{
		{Type: TypeStored, Seq: 7, Epoch: 1 << 63, Retention: 86400},
		{Type: TypeBoxes, Epoch: 42, Retention: 3600, Boxes: []Box{{Seq: 3, From: [32]byte{9}, Time: 1700000000, Data: []byte("a")},
			{Seq: 9, Time: -1, Data: []byte("bc")}}, Next: 9, More: true},
		{Type: TypeBoxes, Next: 4},
		{Type: TypeError, Code: CodeUnauthorized, Msg: "holds read, needs comment"},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, q := range sampleRequests() {
		got, err := DecodeRequest(q.Encode())
		if err != nil {
			t.Fatalf("%v: %v", q.Type, err)
		}
		if !reflect.DeepEqual(got, q) {
			t.Errorf("request round trip:\n got %+v\nwant %+v", got, q)
		}
	}
	for _, p := range sampleResponses() {
		got, err := DecodeResponse(p.Encode())
		if err != nil {
			t.Fatalf("%v: %v", p.Type, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("response round trip:\n got %+v\nwant %+v", got, p)
		}
	}
}

// TestDecodeRejects checks that every truncation of a valid body, trailing
// bytes and out-of-bound fields are refused with ErrMalformed.
func TestDecodeRejects(t *testing.T) {
	for _, q := range sampleRequests() {
		b := q.Encode()
		for n := range len(b) {
			if _, err := DecodeRequest(b[:n]); !errors.Is(err, ErrMalformed) {
				t.Errorf("%v request cut to %d of %d bytes: %v, want ErrMalformed", q.Type, n, len(b), err)
			}
		}
		if _, err := DecodeRequest(append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%v request with a trailing byte: %v", q.Type, err)
		}
	}
	for _, p := range sampleResponses() {
		b := p.Encode()
		for n := range len(b) {
			if _, err := DecodeResponse(b[:n]); !errors.Is(err, ErrMalformed) {
				t.Errorf("%v response cut to %d of %d bytes: %v, want ErrMalformed", p.Type, n, len(b), err)
			}
		}
	}
	bad := []struct {
		name string
		body []byte
	}{
		{"request type", append([]byte{byte(TypeStored)}, make([]byte, 20)...)},
		{"many revocations", Request{Type: TypeGet, Revocations: make([][]byte, MaxRevocations+1)}.Encode()},
		{"big box", Request{Type: TypePut, Box: make([]byte, MaxBoxSize+1)}.Encode()},
		{"big proof", Request{Type: TypeGet, Proof: make([]byte, MaxProofSize+1)}.Encode()},
	}
	for _, tt := range bad {
		if _, err := DecodeRequest(tt.body); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tt.name, err)
		}
	}
	badResp := []struct {
		name string
		body []byte
	}{
		{"response type", []byte{byte(TypeGet)}},
		{"seq order", Response{Type: TypeBoxes, Boxes: []Box{{Seq: 5}, {Seq: 5}}, Next: 5}.Encode()},
		{"next", Response{Type: TypeBoxes, Boxes: []Box{{Seq: 5}}, Next: 6}.Encode()},
		{"more flag", append(Response{Type: TypeBoxes}.Encode()[:4], 2)},
	}
	for _, tt := range badResp {
		if _, err := DecodeResponse(tt.body); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tt.name, err)
		}
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	body := sampleRequests()[0].Encode()
	if err := WriteFrame(&buf, body); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFrame(bufio.NewReader(&buf), MaxRequestSize)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("ReadFrame = %x, %v; want %x", got, err, body)
	}
	buf.Reset()
	if err := WriteFrame(&buf, body); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFrame(bufio.NewReader(&buf), len(body)-1); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("short limit: %v, want ErrFrameTooLarge", err)
	}
	// A frame announcing 1 MiB and ending early reserves little and fails.
	r := bufio.NewReader(strings.NewReader("\x80\x80\x40abc"))
	if _, err := ReadFrame(r, MaxFrameSize); err == nil || !strings.Contains(err.Error(), "got 3") {
		t.Errorf("truncated frame: %v", err)
	}
	if err := WriteFrame(&buf, make([]byte, MaxFrameSize+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("WriteFrame oversize: %v", err)
	}
	if MaxRequestSize > MaxFrameSize {
		t.Errorf("MaxRequestSize %d > MaxFrameSize %d", MaxRequestSize, MaxFrameSize)
	}
}

// FuzzDecode checks that decoding never panics and that whatever decodes
// encodes back to the same bytes (the format is canonical).
func FuzzDecode(f *testing.F) {
	for _, q := range sampleRequests() {
		f.Add(q.Encode())
	}
	for _, p := range sampleResponses() {
		f.Add(p.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if q, err := DecodeRequest(b); err == nil {
			if again := q.Encode(); !bytes.Equal(again, b) {
				t.Errorf("request not canonical: %x -> %x", b, again)
			}
		}
		if p, err := DecodeResponse(b); err == nil {
			if again := p.Encode(); !bytes.Equal(again, b) {
				t.Errorf("response not canonical: %x -> %x", b, again)
			}
		}
	})
}
