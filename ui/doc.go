// Package ui holds Quire's Fyne widgets and windows, and nothing else: the
// document list and the editor. It talks to package app in positions and
// strings, and only cmd/quire imports it.
//
// Every widget change that starts on a goroutine other than Fyne's goes
// through fyne.Do.
package ui
