package packing

import (
	"math"
	"unicode/utf8"
)

// Token estimate constants, calibrated against o200k_base (tiktoken) on Go,
// C, TypeScript, Python, Markdown, JSON and YAML from the Go toolchain and
// module cache, and on CJK, Cyrillic and other non-ASCII text:
//
//	ASCII:  2.5 (JSON, C headers) … 4.2 (Python, prose) bytes per token, ~3.4 for Go
//	CJK:    ~1.0 token per character (3-byte UTF-8)
//	Cyrillic and other 2-byte scripts: ~0.5–0.7 token per character
//
// The constants lean towards overestimating: an overestimate only sends a
// file to the vector store, an underestimate can overflow the model window.
const (
	asciiBytesPerToken = 3.0
	tokensPer2ByteRune = 0.7
	tokensPerWideRune  = 1.0 // 3- and 4-byte runes
)

// EstimateTokens estimates the o200k token count of a file of size bytes from
// sample, a prefix of it (the whole file when size <= len(sample)). It costs
// one pass over the sample and never reads the file, so all files can be
// estimated before deciding which ones to read. An empty sample falls back
// to size/3.
func EstimateTokens(size int64, sample []byte) int {
	if size <= 0 {
		return 0
	}
	if len(sample) == 0 {
		return int(math.Ceil(float64(size) / asciiBytesPerToken))
	}
	var ascii, two, wide, invalid int
	for i := 0; i < len(sample); {
		b := sample[i]
		if b < utf8.RuneSelf {
			ascii++
			i++
			continue
		}
		_, n := utf8.DecodeRune(sample[i:])
		switch {
		case n <= 1:
			invalid++ // a byte of a non-UTF-8 encoding or a rune cut at the end
			n = 1
		case n == 2:
			two++
		default:
			wide++
		}
		i += n
	}
	est := float64(ascii+invalid)/asciiBytesPerToken + float64(two)*tokensPer2ByteRune + float64(wide)*tokensPerWideRune
	perByte := est / float64(len(sample))
	return int(math.Ceil(perByte * float64(size)))
}
