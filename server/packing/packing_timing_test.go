package packing

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tiktoken-go/tokenizer"
)

// benchTree is the generated 5,000-file tree shared by the benchmarks:
// Go-like text files of 2–6 KiB (about 20 MB) in 50 directories.
func benchTree(b *testing.B) (root string, files []string, total int64) {
	b.Helper()
	root = genTree(b, 5000, 4096)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, p)
		total += info.Size()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return root, files, total
}

// catFiles runs cat over files in batches of at most 128 KiB of arguments,
// like xargs, and returns the bytes it wrote.
func catFiles(files []string) (int64, error) {
	var n int64
	for start := 0; start < len(files); {
		end, argBytes := start, 0
		for end < len(files) && argBytes+len(files[end])+1 < 128<<10 {
			argBytes += len(files[end]) + 1
			end++
		}
		cmd := exec.Command("cat", files[start:end]...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return n, err
		}
		if err := cmd.Start(); err != nil {
			return n, err
		}
		m, copyErr := io.Copy(io.Discard, out)
		n += m
		if err := cmd.Wait(); err != nil {
			return n, err
		}
		if copyErr != nil {
			return n, copyErr
		}
		start = end
	}
	return n, nil
}

// BenchmarkPack_5000Files packs a 5,000-file tree and, in the same run,
// reads the same files with an os.ReadFile loop and with cat, reporting
// files/s and MB/s for each and the ratios pack/readfile and pack/cat
// (time of pack divided by time of the other; 1.0 = as fast).
//
//	go test -run '^$' -bench BenchmarkPack_5000Files -benchtime 10x ./server/packing/
func BenchmarkPack_5000Files(b *testing.B) {
	root, files, total := benchTree(b)
	if _, err := exec.LookPath("cat"); err != nil {
		b.Skip("no cat")
	}
	ctx := context.Background()
	allInline := Options{Roots: []string{root}, BudgetTokens: 1 << 30}
	defBudget := Options{Roots: []string{root}}
	var tPack, tPackDef, tRead, tCat time.Duration
	for b.Loop() {
		start := time.Now()
		res, err := Pack(ctx, []string{"."}, allInline)
		if err != nil {
			b.Fatal(err)
		}
		tPack += time.Since(start)
		if len(res.Inline) != len(files) {
			b.Fatalf("inlined %d of %d files", len(res.Inline), len(files))
		}

		start = time.Now()
		if _, err := Pack(ctx, []string{"."}, defBudget); err != nil {
			b.Fatal(err)
		}
		tPackDef += time.Since(start)

		start = time.Now()
		var n int64
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(data))
		}
		tRead += time.Since(start)

		start = time.Now()
		m, err := catFiles(files)
		if err != nil {
			b.Fatal(err)
		}
		tCat += time.Since(start)
		if n != total || m != total {
			b.Fatalf("read %d / cat %d bytes, want %d", n, m, total)
		}
	}
	iters := float64(b.N)
	report := func(name string, d time.Duration) {
		sec := d.Seconds() / iters
		b.ReportMetric(float64(len(files))/sec, name+"-files/s")
		b.ReportMetric(float64(total)/(1<<20)/sec, name+"-MB/s")
	}
	report("pack", tPack)
	report("packdefault", tPackDef)
	report("readfile", tRead)
	report("cat", tCat)
	b.ReportMetric(tPack.Seconds()/tRead.Seconds(), "pack/readfile")
	b.ReportMetric(tPack.Seconds()/tCat.Seconds(), "pack/cat")
}

// BenchmarkEstimate_vsTiktoken justifies the estimator: the cost of
// estimating all 5,000 files from their sniffed prefixes versus counting
// them exactly with o200k.
//
//	go test -run '^$' -bench BenchmarkEstimate_vsTiktoken -benchtime 3x ./server/packing/
func BenchmarkEstimate_vsTiktoken(b *testing.B) {
	_, files, total := benchTree(b)
	data := make([][]byte, len(files))
	for i, f := range files {
		var err error
		if data[i], err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
	}
	enc, err := tokenizer.Get(tokenizer.O200kBase)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		fn   func(d []byte) int
	}{
		{"estimate", func(d []byte) int { return EstimateTokens(int64(len(d)), d[:min(len(d), sniffLen)]) }},
		{"o200k", func(d []byte) int { n, _ := enc.Count(string(d)); return n }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(total)
			sum := 0
			for b.Loop() {
				sum = 0
				for _, d := range data {
					sum += bc.fn(d)
				}
			}
			b.ReportMetric(float64(len(files))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
			b.Log(fmt.Sprintf("%s: %d tokens for %d files", bc.name, sum, len(files)))
		})
	}
}

// BenchmarkEstimateTokens prices one 8 KiB Go source prefix.
func BenchmarkEstimateTokens(b *testing.B) {
	line := "\tif err := fmt.Errorf(\"cannot read %q: %w\", path, err); err != nil { return 42 }\n"
	sample := []byte(strings.Repeat(line, sniffLen/len(line)+1)[:sniffLen])
	b.SetBytes(int64(len(sample)))
	for b.Loop() {
		EstimateTokens(40_000, sample)
	}
}
