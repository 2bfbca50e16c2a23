package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/secondbrain-dev/secondbrain/server/packing"
)

// Limits on a call's images: providers take about 20 MB per image (OpenAI,
// Gemini inline data) and a request as a whole is capped too.
const (
	maxImageBytes  = 20 << 20
	maxImages      = 16
	maxImagesBytes = 50 << 20
)

// imageTypes are the image formats every vision model here takes.
var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// loadImages reads the images a call names, with the context paths' root
// rules, and returns them as data URLs. Every problem names its path.
func loadImages(ctx context.Context, roots []string, paths []string) ([]string, error) {
	if len(paths) > maxImages {
		return nil, fmt.Errorf("too many images: %d, at most %d", len(paths), maxImages)
	}
	var urls []string
	total := 0
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		real, err := packing.ResolveFile(roots, p)
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		b, err := readCapped(real, maxImageBytes)
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", p, err)
		}
		mime := http.DetectContentType(b)
		if !imageTypes[mime] {
			return nil, fmt.Errorf("image %q: %s is not PNG, JPEG, GIF or WebP", p, mime)
		}
		if total += len(b); total > maxImagesBytes {
			return nil, fmt.Errorf("images: more than %d MB together", maxImagesBytes>>20)
		}
		urls = append(urls, "data:"+mime+";base64,"+base64.StdEncoding.EncodeToString(b))
	}
	return urls, nil
}

// readCapped reads the file at path, refusing one larger than max bytes.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d MB", max>>20)
	}
	return b, nil
}
