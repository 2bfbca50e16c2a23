package packing

import (
	"path/filepath"
	"strings"
)

// sniffLen is how much of a file is read to decide whether it is text and to
// calibrate its token estimate.
const sniffLen = 8 << 10

// maxInvalidUTF8 is the share of bytes in the sniffed prefix that may be
// outside valid UTF-8 before a NUL-free file is called binary. Latin-1 or
// cp1252 text stays well under it (accented letters are a few percent);
// compressed or encrypted data is mostly invalid.
const maxInvalidUTF8 = 0.10

// binaryExts are extensions decided without reading: images, archives,
// executables, media, fonts, databases and model weights.
var binaryExts = extSet(`
		png jpg jpeg gif bmp ico icns webp tif tiff psd xcf heic avif svgz
		pdf doc docx xls xlsx ppt pptx odt ods odp epub
		zip gz tgz bz2 xz zst lz4 7z rar tar jar war ear apk ipa deb rpm dmg iso img
		exe dll so dylib a o obj lib bin elf class pyc pyo pyd whl egg wasm node
		mp3 mp4 m4a wav flac ogg oga opus avi mov mkv webm wmv flv
		ttf otf woff woff2 eot
		sqlite sqlite3 db mdb dbf parquet arrow feather avro orc
		pkl pickle npy npz h5 hdf5 onnx pt pth ckpt safetensors gguf tflite pb
		keystore jks p12 pfx der`)

// extSet turns a space-separated list of extensions into a lookup set.
func extSet(list string) map[string]bool {
	m := make(map[string]bool)
	for _, e := range strings.Fields(list) {
		m["."+e] = true
	}
	return m
}

// binaryByExt reports whether name's extension marks it as binary.
func binaryByExt(name string) bool {
	return binaryExts[strings.ToLower(filepath.Ext(name))]
}

// sniffBinary decides from a file's first bytes whether it is binary: any
// NUL byte, or more than maxInvalidUTF8 of the bytes outside valid UTF-8.
// truncated says the sample was cut, so a rune split at its end is not
// counted as invalid.
func sniffBinary(sample []byte, truncated bool) bool {
	return scanSample(sample, truncated).binary()
}
