package ui

import (
	"sync"
	"testing"
	"time"
)

// pumpRig drives an inputPump with a hand-moved clock and hand-fed ticks;
// do runs the poll at once and counts it.
type pumpRig struct {
	p       *inputPump
	mu      sync.Mutex
	clock   time.Time
	polls   chan struct{} // one per poll
	ticks   chan time.Time
	tickers int // tickers started
}

func newPumpRig() *pumpRig {
	r := &pumpRig{clock: time.Unix(1_000_000, 0), polls: make(chan struct{}, 16), ticks: make(chan time.Time)}
	r.p = newInputPump(func() { r.polls <- struct{}{} }, func(f func()) { f() })
	r.p.now = func() time.Time {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.clock
	}
	r.p.ticker = func(d time.Duration) (<-chan time.Time, func()) {
		if d != pumpEvery {
			panic("ticker period is not pumpEvery")
		}
		r.tickers++
		return r.ticks, func() {}
	}
	return r
}

func (r *pumpRig) advance(d time.Duration) {
	r.mu.Lock()
	r.clock = r.clock.Add(d)
	r.mu.Unlock()
}

// tick hands the pump one tick and waits until it polled (want true) or
// ended (want false).
func (r *pumpRig) tick(t *testing.T, wantPoll bool) {
	t.Helper()
	r.ticks <- time.Time{}
	if wantPoll {
		<-r.polls
		return
	}
	<-r.p.ended
	if len(r.polls) != 0 {
		t.Fatal("the pump polled after going idle")
	}
}

// TestInputPump: typing starts the pump, which polls on every tick while
// input keeps coming, stops pumpIdle after the last input, starts again
// with the next key, and stops for good when closed.
func TestInputPump(t *testing.T) {
	r := newPumpRig()
	r.p.input()
	r.p.input() // already running: no second goroutine
	if r.tickers != 1 {
		t.Fatalf("%d tickers started for two keys, want 1", r.tickers)
	}
	r.tick(t, true)
	r.advance(pumpIdle - time.Millisecond)
	r.tick(t, true) // still within pumpIdle of the last key
	r.advance(time.Millisecond)
	r.tick(t, false) // idle: it ends

	r.p.input() // typing again
	if r.tickers != 2 {
		t.Fatalf("%d tickers started after typing resumed, want 2", r.tickers)
	}
	r.tick(t, true)
	r.p.close()
	<-r.p.ended
	r.p.input() // closed: nothing starts
	if r.tickers != 2 {
		t.Errorf("a ticker started after close")
	}
	r.p.close() // twice is fine
}

// TestInputPumpWithoutPoll: with nothing to poll (the headless driver)
// the pump never starts.
func TestInputPumpWithoutPoll(t *testing.T) {
	p := newInputPump(nil, func(f func()) { f() })
	started := false
	p.ticker = func(time.Duration) (<-chan time.Time, func()) { started = true; return nil, func() {} }
	p.input()
	p.close()
	if started {
		t.Error("a pump with nothing to poll started")
	}
}
