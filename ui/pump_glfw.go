//go:build !ci && !android && !ios && !mobile && !wasm

package ui

import "github.com/go-gl/glfw/v3.3/glfw"

// canPoll reports whether pollEvents polls a window system.
const canPoll = true

// pollEvents is GLFW's event poll, the one Fyne's desktop driver calls on
// its tick; it must run on the main (UI) goroutine.
func pollEvents() { glfw.PollEvents() }
