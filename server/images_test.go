package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pngHeader is enough of a PNG for content sniffing.
var pngHeader = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

// Images go to vision models as image inputs over both APIs, with the
// context paths' root rules; a model without vision refuses the parameter.
func TestImages(t *testing.T) {
	project := newProject(t)
	for name, body := range map[string][]byte{"shot.png": pngHeader, "notes.txt": []byte("not an image\n")} {
		if err := os.WriteFile(filepath.Join(project, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "out.png")
	if err := os.WriteFile(outside, pngHeader, 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := startFake(t)
	e := startEnv(t, project, filepath.Join(t.TempDir(), "sb.db"), base, "k")
	tests := []struct {
		tool    string
		images  []any
		want    int    // images the model got
		wantErr string // in the tool error
	}{
		{"chat_with_gpt52", []any{"shot.png"}, 1, ""},                             // Responses API
		{"chat_with_gemini3_flash_preview", []any{"shot.png", "shot.png"}, 2, ""}, // chat completions
		{"chat_with_o3", []any{"shot.png"}, 0, `does not support "images"`},
		{"chat_with_gpt52", []any{outside}, 0, "outside allowed roots"},
		{"chat_with_gpt52", []any{"notes.txt"}, 0, "is not PNG, JPEG, GIF or WebP"},
		{"chat_with_gpt52", []any{"missing.png"}, 0, "not found"},
	}
	for i, tt := range tests {
		a := chatArgs("img-" + string(rune('a'+i)))
		a["images"] = tt.images
		r := e.call(tt.tool, a)
		if tt.wantErr != "" {
			if !r.IsError || !strings.Contains(textOf(r), tt.wantErr) {
				t.Errorf("%s %v: error %v %q; want one saying %q", tt.tool, tt.images, r.IsError, textOf(r), tt.wantErr)
			}
			continue
		}
		if ev := echoOf(t, r); ev.Images != tt.want {
			t.Errorf("%s %v: the model got %d images, want %d", tt.tool, tt.images, ev.Images, tt.want)
		}
	}
}
