//go:build ci || android || ios || mobile || wasm

package ui

// canPoll reports whether pollEvents polls a window system: not where
// Fyne does not run GLFW (the headless driver of the ci build).
const canPoll = false

func pollEvents() {}
