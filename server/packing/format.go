package packing

import (
	"bytes"
	"strings"
)

// attrEscaper escapes a path for the double-quoted path attribute, so a
// file name can never end the tag early.
var attrEscaper = strings.NewReplacer(`&`, "&amp;", `"`, "&quot;", `<`, "&lt;", `>`, "&gt;")

// FormatInline renders files as consecutive blocks
//
//	<file path="REL">
//	CONTENT
//	</file>
//
// in the given order, with REL being File.Rel (attribute-escaped) and a
// newline added after CONTENT when it does not end with one. Content is
// sent verbatim, not escaped.
func FormatInline(files []File) string {
	n := 0
	for _, f := range files {
		n += len(f.Content) + len(f.Rel) + 24
	}
	var b bytes.Buffer
	b.Grow(n)
	for _, f := range files {
		b.WriteString(`<file path="`)
		b.WriteString(attrEscaper.Replace(f.Rel))
		b.WriteString("\">\n")
		b.Write(f.Content)
		if len(f.Content) > 0 && f.Content[len(f.Content)-1] != '\n' {
			b.WriteByte('\n')
		}
		b.WriteString("</file>\n")
	}
	return b.String()
}
