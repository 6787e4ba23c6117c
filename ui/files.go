package ui

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/widget"

	"github.com/quire-dev/quire/app"
)

// maxImport bounds the size of a file Import reads. Larger files are
// refused whole, with an error saying so.
const maxImport = 16 << 20

// Import asks for a Markdown or plain text file and opens it as a new
// document.
func (e *Editor) Import() {
	if e.window == nil {
		return
	}
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			e.fail("import", err)
			return
		}
		if r == nil {
			return // cancelled
		}
		path := r.URI().Path()
		r.Close()
		if err := e.ImportFile(path); err != nil {
			e.fail("import", err)
		}
	}, e.window)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".md", ".markdown", ".txt", ".text"}))
	d.Show()
}

// ImportFile reads a Markdown or plain text file (UTF-8, at most 16 MiB)
// into a new document and opens it. A file without a heading gets its
// name as the document's title.
func (e *Editor) ImportFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxImport+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxImport {
		return fmt.Errorf("%s is larger than %d MiB", filepath.Base(path), maxImport>>20)
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("%s is not UTF-8 text", filepath.Base(path))
	}
	text := strings.ReplaceAll(strings.TrimPrefix(string(b), "\uFEFF"), "\r\n", "\n")
	if len([]rune(text)) > app.MaxEditLen {
		return fmt.Errorf("%s has more than %d characters", filepath.Base(path), app.MaxEditLen)
	}
	if !e.create(text) {
		return errors.New("could not create the document")
	}
	if !strings.HasPrefix(strings.TrimSpace(text), "#") {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		e.SetTitle(name)
	}
	return nil
}

// Export asks where to save the open document, as Markdown (.md) or
// plain text (.txt: the rendered text without Markdown marks).
func (e *Editor) Export() {
	if e.doc == nil || e.window == nil {
		return
	}
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil {
			e.fail("export", err)
			return
		}
		if w == nil {
			return
		}
		path := w.URI().Path()
		w.Close() // the file is written again, atomically, below
		if err := e.ExportFile(path); err != nil {
			e.fail("export", err)
		}
	}, e.window)
	d.SetFileName(safeName(e.currentTitle()) + ".md")
	d.SetFilter(storage.NewExtensionFileFilter([]string{".md", ".markdown", ".txt"}))
	d.Show()
}

// ExportFile writes the open document to path atomically (a temporary
// file in the same directory, synced, then renamed over path): as plain
// text for a .txt path, else as Markdown.
func (e *Editor) ExportFile(path string) error {
	if e.doc == nil {
		return errors.New("no document is open")
	}
	text := e.shown
	if strings.EqualFold(filepath.Ext(path), ".txt") {
		text = plainText(text)
	}
	return writeAtomic(path, []byte(text))
}

// plainText renders Markdown to its text without marks.
func plainText(md string) string {
	var b strings.Builder
	writePlain(&b, widget.NewRichTextFromMarkdown(md).Segments, "")
	return b.String()
}

// writePlain writes segments as text, one line per block, list items
// with a bullet.
func writePlain(b *strings.Builder, segs []widget.RichTextSegment, indent string) {
	for _, seg := range segs {
		switch s := seg.(type) {
		case *widget.ListSegment:
			for i, item := range s.Items {
				bullet := "• "
				if s.Ordered {
					bullet = fmt.Sprintf("%d. ", i+1)
				}
				b.WriteString(indent + bullet)
				writePlain(b, []widget.RichTextSegment{item}, indent+"  ")
			}
		case *widget.ParagraphSegment:
			writePlain(b, s.Texts, indent)
			b.WriteString("\n")
		default:
			b.WriteString(seg.Textual())
			if !seg.Inline() {
				b.WriteString("\n")
			}
		}
	}
}

// writeAtomic replaces path with data so that a crash leaves either the
// old file or the new one, never a mix.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename durable where the OS allows
		d.Close()
	}
	return nil
}

// safeName turns a title into a file name.
func safeName(title string) string {
	name := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, r) || r < ' ' {
			return '-'
		}
		return r
	}, strings.TrimSpace(title))
	if name == "" {
		return "Untitled"
	}
	return name
}
