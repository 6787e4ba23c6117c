package ui

import (
	"sync"
	"time"
)

// Typing latency. Fyne 2.7.1's event loop polls the window system for
// input only on its 60 Hz tick, and paints on the same tick right after:
// a key waits for the tick (8 ms on average), then the edit and the
// entry's layout (about 5 ms on the automerge paper) come before the
// frame can start. While the user types, the pump polls the window
// system between the ticks as well, on Fyne's UI goroutine (fyne.Do, so
// the events are handled exactly as in the loop's own poll), so a key is
// usually handled before the next tick and that tick's frame shows it.
// It stops by itself after pumpIdle without input: an idle window costs
// nothing.

// Pump timing.
const (
	pumpEvery = 4 * time.Millisecond
	pumpIdle  = 2 * time.Second
)

// inputPump polls for input every pumpEvery while input keeps coming. Its
// methods may be called from any goroutine.
type inputPump struct {
	poll   func()       // polls the window system; runs through do
	do     func(func()) // runs a function on the UI goroutine without waiting
	now    func() time.Time
	ticker func(time.Duration) (<-chan time.Time, func()) // ticks and a stop

	mu      sync.Mutex
	last    time.Time     // the latest input
	running bool          // a pumping goroutine is running
	closed  bool          // no more pumping
	stop    chan struct{} // closed by close
	ended   chan struct{} // closed when the latest pumping goroutine ends
}

// newInputPump returns a pump that calls poll through do; a nil poll (the
// headless driver) makes a pump that does nothing.
func newInputPump(poll func(), do func(func())) *inputPump {
	return &inputPump{poll: poll, do: do, now: time.Now, ticker: func(d time.Duration) (<-chan time.Time, func()) {
		t := time.NewTicker(d)
		return t.C, t.Stop
	}, stop: make(chan struct{})}
}

// input notes that the user typed, starting the pump if it is not
// running.
func (p *inputPump) input() {
	if p.poll == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = p.now()
	if p.running || p.closed {
		return
	}
	p.running = true
	p.ended = make(chan struct{})
	ticks, stop := p.ticker(pumpEvery)
	go p.run(ticks, stop, p.ended)
}

// run polls on every tick until pumpIdle passes without input or the
// pump is closed.
func (p *inputPump) run(ticks <-chan time.Time, stop func(), ended chan struct{}) {
	defer close(ended)
	defer stop()
	for {
		select {
		case <-p.stop:
			return
		case <-ticks:
		}
		p.mu.Lock()
		idle := p.now().Sub(p.last) >= pumpIdle
		if idle {
			p.running = false
		}
		p.mu.Unlock()
		if idle {
			return
		}
		p.do(p.poll)
	}
}

// close stops the pump and waits for its goroutine to end.
func (p *inputPump) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stop)
	ended := p.ended
	p.mu.Unlock()
	if ended != nil {
		<-ended
	}
}
