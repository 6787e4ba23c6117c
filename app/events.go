package app

import (
	"sync"

	"github.com/quire-dev/quire/crdt"
)

// subscriberQueue bounds the events waiting for one subscriber. A
// subscriber that falls this far behind loses the events in between and
// gets one EventResync instead: it re-reads the text, so nothing is lost
// but the detail of how the text got there.
const subscriberQueue = 256

// Edit is a change to a document's text: delete Del code points at Pos,
// then insert Text there.
type Edit = crdt.Edit

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of event.
const (
	// EventEdits: the text changed; Edits says how, in order.
	EventEdits EventKind = iota + 1
	// EventResync: the subscriber fell behind; re-read Text.
	EventResync
	// EventPresence: who is in the document, or where their cursors are,
	// changed; call Doc.Presence.
	EventPresence
	// EventStatus: the sync status changed; call Doc.Status.
	EventStatus
)

// Event is one notification from an open document.
type Event struct {
	Kind EventKind
	// Edits are the text changes, in order, for EventEdits: each deletes
	// Del code points at Pos, then inserts Text there.
	Edits []crdt.Edit
	// Local is set when the edits were made through a Doc handle of this
	// device (possibly another window's).
	Local bool
	// Rev is the text revision after the event; Doc.Text returns the
	// revision it read, so a subscriber can tell which events a text it
	// read already includes.
	Rev uint64
}

// subscriber is one Subscribe call's bounded queue.
type subscriber struct {
	ch     chan Event
	mu     sync.Mutex
	lagged bool // an event was dropped: send EventResync when there is room
	done   bool
}

// send queues e without blocking. When the queue is full it drops e and
// remembers to send EventResync as soon as there is room again.
func (s *subscriber) send(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	if s.lagged {
		select {
		case s.ch <- Event{Kind: EventResync, Rev: e.Rev}:
			s.lagged = false
		default:
			return
		}
		if e.Kind == EventEdits {
			// The resync covers these edits too.
			return
		}
	}
	select {
	case s.ch <- e:
	default:
		s.lagged = true
	}
}

func (s *subscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.done = true
		close(s.ch)
	}
}

// Subscribe returns a channel of the document's events and a function that
// ends the subscription (closing the channel). The channel is also closed
// when the document closes. See subscriberQueue for what happens when the
// reader falls behind.
func (d *Doc) Subscribe() (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event, subscriberQueue)}
	if err := d.a.do(func() { d.a.subs[s] = struct{}{} }); err != nil {
		s.close()
		return s.ch, func() {}
	}
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			if d.a.do(func() { delete(d.a.subs, s) }) == nil {
				s.close()
			}
		})
	}
}

// emit sends e to every subscriber; called on the actor's goroutine.
func (a *docActor) emit(e Event) {
	e.Rev = a.rev
	for s := range a.subs {
		s.send(e)
	}
}

// emitEdits records a text change and tells subscribers.
func (a *docActor) emitEdits(edits []crdt.Edit, local bool) {
	a.rev++
	a.recent.add(a.rev, edits)
	if !local {
		a.hist.remote(edits)
	}
	a.presence.transform(edits)
	a.emit(Event{Kind: EventEdits, Edits: edits, Local: local})
}
