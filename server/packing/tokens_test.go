package packing

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tiktoken-go/tokenizer"
)

// TestEstimateTokens_vsO200k checks the estimate against the real o200k
// tokenizer on text from the Go toolchain (present wherever tests run) and
// on non-Latin scripts: never more than 20 % under, at most 60 % over.
func TestEstimateTokens_vsO200k(t *testing.T) {
	t.Parallel()
	enc, err := tokenizer.Get(tokenizer.O200kBase)
	if err != nil {
		t.Fatal(err)
	}
	goroot := runtime.GOROOT()
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(goroot, rel))
		if err != nil {
			t.Skipf("GOROOT sample missing: %v", err)
		}
		return string(b)
	}
	cases := []struct {
		name string
		text string
	}{
		{"go source > 8 KiB (scaled from the sample)", read("src/net/http/client.go")},
		{"go source small", read("src/io/pipe.go")},
		{"markdown prose", read("src/runtime/HACKING.md")},
		{"html", read("doc/go_mem.html")},
		{"json", strings.Repeat(`{"id": 12345, "name": "example", "tags": ["a", "b"], "ok": true},`+"\n", 200)},
		{"chinese", strings.Repeat("上下文打包器把文件放进提示里，其余的交给向量存储。每个被跳过的文件都会列出原因。\n", 100)},
		{"japanese", strings.Repeat("このパッケージはモデルに送るファイルを選びます。\n", 100)},
		{"russian", strings.Repeat("Упаковщик контекста выбирает файлы для модели, остальное идёт в векторное хранилище.\n", 100)},
		{"mixed code with comments in german", strings.Repeat("// Größe prüfen: ungültige Einträge überspringen\nif size > max { return errTooLarge }\n", 100)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := enc.Count(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			sample := []byte(tc.text)
			if len(sample) > sniffLen {
				sample = sample[:sniffLen]
			}
			got := EstimateTokens(int64(len(tc.text)), sample)
			ratio := float64(got) / float64(want)
			t.Logf("%d bytes: estimate %d, o200k %d, ratio %.2f", len(tc.text), got, want, ratio)
			if ratio < 0.8 || ratio > 1.6 {
				t.Errorf("estimate %d vs o200k %d: ratio %.2f outside [0.8, 1.6]", got, want, ratio)
			}
		})
	}
}

func TestEstimateTokens_edges(t *testing.T) {
	t.Parallel()
	f := func(size int64, sample string, want int) {
		t.Helper()
		if got := EstimateTokens(size, []byte(sample)); got != want {
			t.Errorf("EstimateTokens(%d, %q) = %d; want %d", size, sample, got, want)
		}
	}
	f(0, "", 0)
	f(0, "abc", 0)
	f(9, "", 3)                             // no sample: bytes/3
	f(1, "a", 1)                            // never 0 for a non-empty file
	f(1000, strings.Repeat("a", 1000), 216) // 0.196 × 1.1 per letter, rounded up
	f(1000, "a", 216)                       // scaled from the sample
	f(1000, "1", 1050)                      // digits do not merge
	f(2, "\n\n", 4)                         // 1.375 × 1.1 per newline
	f(6, "日本", 2)                           // 0.9 × 1.1 per 3-byte rune
	f(4, "жж", 1)                           // 0.4 × 1.1 per 2-byte rune
	f(3, "\xff\xfe\xfd", 2)                 // invalid bytes priced like punctuation
}

func TestSniffBinary(t *testing.T) {
	t.Parallel()
	f := func(sample string, truncated, want bool) {
		t.Helper()
		if got := sniffBinary([]byte(sample), truncated); got != want {
			t.Errorf("sniffBinary(%q, %v) = %v; want %v", sample, truncated, got, want)
		}
	}
	f("", false, false)
	f("plain text\n", false, false)
	f("a\x00b", false, true)
	f("日本語", false, false)
	f("ab\xe6\x97", true, false)                        // rune cut by the sample end
	f("ab\xe6\x97", false, true)                        // the file really ends there: 2 of 4 bytes invalid
	f("caf\xe9 "+strings.Repeat("x", 20), false, false) // Latin-1: 1 invalid byte in 25
	f("\x89PNG\r\n\x1a\n\xff\xd8\xff", false, true)
}
