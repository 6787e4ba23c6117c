package p2p

import (
	"log/slog"

	"github.com/libp2p/go-libp2p/gologshim"
)

// RouteLibp2pLogs sends go-libp2p's own logs to h instead of the stderr
// handler it creates by default. libp2p keeps this setting in a process-wide
// variable and reads it at each subsystem's first log, so only a main
// function calls this, once, before starting any Node.
func RouteLibp2pLogs(h slog.Handler) {
	gologshim.SetDefaultHandler(h)
}
