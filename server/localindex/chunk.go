package localindex

import "strings"

// A Piece is a run of whole lines of a file.
type Piece struct {
	Text               string
	StartLine, EndLine int // 1-based, inclusive
}

// Chunk cuts text into pieces of whole lines of about size bytes (a line
// longer than size is a piece of its own).
func Chunk(text string, size int) []Piece {
	var out []Piece
	var b strings.Builder
	start, line := 1, 0
	flush := func() {
		if b.Len() > 0 {
			out = append(out, Piece{Text: b.String(), StartLine: start, EndLine: line})
			b.Reset()
		}
		start = line + 1
	}
	for rest := text; rest != ""; {
		l, tail, found := strings.Cut(rest, "\n")
		rest = tail
		if found {
			l += "\n"
		}
		if b.Len() > 0 && b.Len()+len(l) > size {
			flush()
		}
		line++
		b.WriteString(l)
	}
	flush()
	return out
}
