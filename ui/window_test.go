package ui

import (
	"testing"
	"time"
)

// fakeTimer stands in for time.After in quitWatch: it records the
// durations asked for and fires only when the test sends on fire.
type fakeTimer struct {
	asked []time.Duration
	fire  chan time.Time
}

func (f *fakeTimer) after(d time.Duration) <-chan time.Time {
	f.asked = append(f.asked, d)
	return f.fire
}

// TestQuitWatchCallsStuck: the window closes (twice: its close and the
// context), the event loop never returns, and once quitGrace has passed
// the watch calls stuck, once.
func TestQuitWatchCallsStuck(t *testing.T) {
	timer := &fakeTimer{fire: make(chan time.Time)}
	stuck := make(chan struct{}, 2)
	q := newQuitWatch(func() { stuck <- struct{}{} }, nil, timer.after)
	q.closing()
	q.closing()
	if len(timer.asked) != 1 || timer.asked[0] != quitGrace {
		t.Fatalf("timers asked for: %v, want one of %v", timer.asked, quitGrace)
	}
	select {
	case <-stuck:
		t.Fatal("stuck called before the grace period passed")
	default:
	}
	timer.fire <- time.Time{} // the goroutine receives it: the grace period has passed
	<-q.ended
	if len(stuck) != 1 {
		t.Fatalf("stuck called %d times, want 1", len(stuck))
	}
	q.returned() // Run's deferred call, if the loop returns after all
}

// TestQuitWatchLoopReturns: the event loop returns within the grace
// period; the watch ends without calling stuck, and a timer firing late
// finds no one waiting.
func TestQuitWatchLoopReturns(t *testing.T) {
	timer := &fakeTimer{fire: make(chan time.Time, 1)}
	called := false
	q := newQuitWatch(func() { called = true }, nil, timer.after)
	q.closing()
	q.returned()
	<-q.ended // the loop's return, the only thing ready, ended the watch
	timer.fire <- time.Time{}
	if called {
		t.Error("stuck called although the event loop returned")
	}
}

// TestQuitWatchWithoutStuck: with no Options.Stuck there is no watchdog
// at all.
func TestQuitWatchWithoutStuck(t *testing.T) {
	timer := &fakeTimer{}
	q := newQuitWatch(nil, nil, timer.after)
	q.closing()
	<-q.ended
	q.returned()
	if len(timer.asked) != 0 {
		t.Errorf("a timer was started (%v) with no Stuck to call", timer.asked)
	}
}
