// Package syncproto is Quire's catch-up protocol ("/quire/sync/1.0.0") as a
// sans-I/O state machine: a Session takes decoded messages in and returns the
// messages to send; it owns no goroutine, socket or clock. Package p2p runs
// sessions over libp2p streams; tests drive them by hand.
//
// # Protocol
//
// The initiator opens a stream and both sides exchange, in order:
//
//	initiator                          responder
//	Hello{version, doc, proof}  ───►
//	                            ◄───   Hello{version, doc, proof}, Have{vector}
//	Have{vector}                ───►
//	Batch / Ack / Done both ways, independently
//
// The responder checks the protocol version, that it holds the document and
// that the initiator's proof grants read on it to the initiator's key
// (Replica.CheckProof with the key the transport authenticated) before it
// sends anything about the document; on any failure it answers only
// Error{Refused}, whichever check failed, so a peer without a capability
// learns neither the version vector nor whether the document exists. The
// initiator checks the responder's Hello the same way before sending its
// vector.
//
// After the vectors, each side sends the changes the other lacks:
// Replica.EncodeBatch(since the other's vector, BatchBytes), one Batch at a
// time. The receiver applies it through Replica.ApplyBatch (which verifies
// signatures and capabilities) and answers Ack{its new vector}; the sender
// encodes the next batch from the acknowledged vector, so at most one batch
// is unacknowledged per direction and a broken stream resumes, in the next
// session, from what the receiver really holds. A sender whose batch is
// acknowledged with an unchanged vector stops with ErrNoProgress, so changes
// the receiver rejects cannot loop. A side with nothing more to send sends
// Done; the session is finished when Done has gone both ways.
//
// # Framing
//
// Every message is a frame: a uvarint length, then a type byte and the
// body. Frames over MaxFrameSize are refused before they are read.
// See encode.go for each body.
package syncproto
