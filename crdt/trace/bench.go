package trace

import (
	"crypto/ed25519"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/quire-dev/quire/crdt"
)

// Result holds the figures of one trace, as `quirectl bench trace` prints
// them (one JSON object per line). Times are medians over the runs.
type Result struct {
	Trace              string  `json:"trace"`
	Kind               string  `json:"kind"`
	Patches            int     `json:"patches"`
	FinalOK            bool    `json:"final_ok"`
	ReplayMS           float64 `json:"replay_ms"`
	MergeMS            float64 `json:"merge_ms"`
	StreamMS           float64 `json:"stream_ms"`
	EncodedBytes       int     `json:"encoded_bytes"`
	StreamEncodedBytes int     `json:"stream_encoded_bytes"`
	LoadMS             float64 `json:"load_ms"`
	HeapBytes          int64   `json:"heap_bytes"`
	// The signed figures, for sequential traces: the history sealed one
	// change per txn and signed as sealed (SignedReplay), its encoding
	// with the retained signatures, the time of DecodeVerified on it, the
	// part of that spent verifying authorship (hashing every change and
	// checking the signatures: DecodeVerified less Load of the same
	// bytes), and the median cost of one Seal with signing.
	SignedEncodedBytes int     `json:"signed_encoded_bytes,omitempty"`
	VerifiedDecodeMS   float64 `json:"verified_decode_ms,omitempty"`
	VerifyMS           float64 `json:"verify_ms,omitempty"`
	SealSignUS         float64 `json:"seal_sign_us,omitempty"`
	Error              string  `json:"error,omitempty"`
}

// Patches counts the trace's patches.
func (t *Trace) Patches() int {
	n := 0
	for i := range t.Txns {
		n += len(t.Txns[i].Patches)
	}
	return n
}

// replay types the whole trace as a device would offline (one replica per
// agent for a concurrent trace), then seals and encodes the history.
func (t *Trace) replay() (*crdt.Doc, []byte, error) {
	if t.Kind == "concurrent" {
		docs, _, err := ReplayConcurrent(t)
		if err != nil {
			return nil, nil, err
		}
		return docs[0], docs[0].Encode(), nil
	}
	d, _, err := ReplaySequential(t, false)
	if err != nil {
		return nil, nil, err
	}
	return d, d.Encode(), nil
}

// streamChanges returns the history sealed as one change per txn, each
// encoded as it would travel, and the full encoding of that history.
func (t *Trace) streamChanges() ([][]byte, []byte, error) {
	var d *crdt.Doc
	var cs []*crdt.Change
	var err error
	if t.Kind == "concurrent" {
		var docs []*crdt.Doc
		docs, cs, err = ReplayConcurrent(t)
		if err == nil {
			d = docs[0]
		}
	} else {
		d, cs, err = ReplaySequential(t, true)
	}
	if err != nil {
		return nil, nil, err
	}
	enc := make([][]byte, len(cs))
	for i, c := range cs {
		enc[i] = c.Encode()
	}
	return enc, d.Encode(), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// Bench measures t over runs runs (at least 1).
func Bench(t *Trace, runs int) Result {
	res := Result{Trace: t.Name, Kind: t.Kind, Patches: t.Patches(), FinalOK: true}
	fail := func(err error) Result {
		res.FinalOK = false
		res.Error = err.Error()
		return res
	}
	runs = max(runs, 1)
	var replay, merge, stream, load []float64
	var enc []byte
	for range runs {
		runtime.GC()
		start := time.Now()
		d, e, err := t.replay()
		if err != nil {
			return fail(err)
		}
		replay = append(replay, ms(time.Since(start)))
		res.FinalOK = res.FinalOK && d.Text() == t.EndContent
		enc = e
	}
	res.EncodedBytes = len(enc)
	reader := trace0()
	for range runs {
		runtime.GC()
		start := time.Now()
		d, err := crdt.Decode(enc, reader)
		if err != nil {
			return fail(fmt.Errorf("merge: %w", err))
		}
		merge = append(merge, ms(time.Since(start)))
		res.FinalOK = res.FinalOK && d.Text() == t.EndContent
	}
	for range runs {
		runtime.GC()
		start := time.Now()
		d, err := crdt.Load(enc, reader)
		if err != nil {
			return fail(fmt.Errorf("load: %w", err))
		}
		_ = d.Len()
		load = append(load, ms(time.Since(start)))
		res.FinalOK = res.FinalOK && d.Text() == t.EndContent
	}
	changes, streamEnc, err := t.streamChanges()
	if err != nil {
		return fail(err)
	}
	res.StreamEncodedBytes = len(streamEnc)
	if d, err := crdt.Decode(streamEnc, reader); err != nil {
		return fail(fmt.Errorf("decode per-txn history: %w", err))
	} else {
		res.FinalOK = res.FinalOK && d.Text() == t.EndContent
	}
	for range runs {
		runtime.GC()
		start := time.Now()
		d := crdt.New(DocID, reader)
		for _, b := range changes {
			c, err := crdt.DecodeChange(DocID, b)
			if err != nil {
				return fail(fmt.Errorf("stream: %w", err))
			}
			if _, err := d.Apply(c); err != nil {
				return fail(fmt.Errorf("stream: %w", err))
			}
		}
		stream = append(stream, ms(time.Since(start)))
		res.FinalOK = res.FinalOK && d.Text() == t.EndContent
	}
	if t.Kind != "concurrent" {
		if err := benchSigned(t, runs, &res); err != nil {
			return fail(err)
		}
	}
	res.HeapBytes = heapOf(func() any {
		d, _ := crdt.Load(enc, reader)
		return d
	})
	res.ReplayMS, res.MergeMS, res.StreamMS, res.LoadMS = median(replay), median(merge), median(stream), median(load)
	return res
}

// SignedReplay types a sequential trace on one replica whose author signs,
// sealing (and so signing) once per txn, and returns the document and the
// time each seal took.
func SignedReplay(t *Trace) (*crdt.Doc, []time.Duration, error) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	var author crdt.Author
	copy(author[:], priv.Public().(ed25519.PublicKey))
	d := crdt.New(DocID, author)
	if err := d.SetSigner(priv); err != nil {
		return nil, nil, err
	}
	if t.StartContent != "" {
		if err := d.Insert(0, t.StartContent); err != nil {
			return nil, nil, err
		}
	}
	seals := make([]time.Duration, 0, len(t.Txns))
	for i := range t.Txns {
		if err := Apply(d, &t.Txns[i]); err != nil {
			return nil, nil, fmt.Errorf("txn %d: %w", i, err)
		}
		start := time.Now()
		d.Seal()
		seals = append(seals, time.Since(start))
	}
	return d, seals, nil
}

// benchSigned fills the signed figures of res.
func benchSigned(t *Trace, runs int, res *Result) error {
	d, seals, err := SignedReplay(t)
	if err != nil {
		return fmt.Errorf("signed replay: %w", err)
	}
	us := make([]float64, len(seals))
	for i, s := range seals {
		us[i] = float64(s.Nanoseconds()) / 1000
	}
	res.SealSignUS = median(us)
	enc := d.Encode()
	res.SignedEncodedBytes = len(enc)
	var verified, load []float64
	for range runs {
		runtime.GC()
		start := time.Now()
		v, err := crdt.DecodeVerified(enc, trace0())
		if err != nil {
			return fmt.Errorf("verify signed history: %w", err)
		}
		verified = append(verified, ms(time.Since(start)))
		res.FinalOK = res.FinalOK && v.Text() == t.EndContent
		runtime.GC()
		start = time.Now()
		if _, err := crdt.Load(enc, trace0()); err != nil {
			return fmt.Errorf("load signed history: %w", err)
		}
		load = append(load, ms(time.Since(start)))
	}
	res.VerifiedDecodeMS = median(verified)
	res.VerifyMS = max(0, median(verified)-median(load))
	return nil
}

// trace0 is the local author of the replicas that receive a history.
func trace0() crdt.Author { return crdt.Author{0xff, 'r', 'e', 'a', 'd', 'e', 'r'} }

// heapOf returns the live heap held by what build returns, after GC.
func heapOf(build func() any) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}
