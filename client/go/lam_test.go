// SPDX-License-Identifier: MIT

package lam

// These tests need a running lamd and the reference embeddings `lamctl embed --text` printed
// through it (tests/clients: ctest -L clients sets LAMD_SOCKET, LAM_CLIENT_SENTENCES,
// LAM_CLIENT_REFERENCE). Without them they skip.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type fixture struct {
	socket    string
	sentences []string
	reference [][]float32
}

func loadFixture(t *testing.T) fixture {
	t.Helper()
	f := fixture{socket: os.Getenv("LAMD_SOCKET")}
	refPath, sentPath := os.Getenv("LAM_CLIENT_REFERENCE"), os.Getenv("LAM_CLIENT_SENTENCES")
	if f.socket == "" || refPath == "" || sentPath == "" {
		t.Skip("no lamd: run through ctest -L clients (LAMD_SOCKET, LAM_CLIENT_REFERENCE, LAM_CLIENT_SENTENCES)")
	}
	raw, err := os.ReadFile(sentPath)
	if err != nil {
		t.Fatal(err)
	}
	f.sentences = strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	ref, err := os.Open(refPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	sc := bufio.NewScanner(ref)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var row []float64
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		r := make([]float32, len(row))
		for i, v := range row {
			r[i] = float32(v) // 9 significant digits: the exact float32 lamd computed
		}
		f.reference = append(f.reference, r)
	}
	if len(f.reference) != len(f.sentences) || len(f.reference) == 0 {
		t.Fatalf("%d reference rows for %d sentences", len(f.reference), len(f.sentences))
	}
	return f
}

func open(t *testing.T, f fixture) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Open(ctx, &Options{SocketPath: f.socket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestEmbedReturnsLamctlEmbeddingsBitForBit(t *testing.T) {
	f := loadFixture(t)
	c := open(t, f)
	rows, err := c.Embed(context.Background(), f.sentences)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(f.reference) {
		t.Fatalf("%d rows, want %d", len(rows), len(f.reference))
	}
	for i := range rows {
		if !sameBits(rows[i], f.reference[i]) {
			t.Errorf("sentence %d (%q) differs from lamctl embed", i, f.sentences[i])
		}
	}
	dim, err := c.EmbeddingDim()
	if err != nil || dim != len(f.reference[0]) {
		t.Errorf("EmbeddingDim() = %d, %v; want %d", dim, err, len(f.reference[0]))
	}
	info, err := c.ModelInfo()
	if err != nil || info.EmbeddingDim != dim || info.Backend != "cpu" || info.Fingerprint == "" {
		t.Errorf("ModelInfo() = %+v, %v", info, err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestManyGoroutinesShareOneClient(t *testing.T) {
	f := loadFixture(t)
	c := open(t, f)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for j := 0; j < 4; j++ {
				i := (g + j) % len(f.sentences)
				rows, err := c.Embed(context.Background(), []string{f.sentences[i]})
				if err != nil {
					errs <- err
					return
				}
				if !sameBits(rows[0], f.reference[i]) {
					errs <- errors.New("goroutine " + strconv.Itoa(g) + ": sentence " + strconv.Itoa(i) + " differs")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStatusesComeBackAsTypedErrors(t *testing.T) {
	f := loadFixture(t)
	c := open(t, f)
	ctx := context.Background()
	_, err := c.Embed(ctx, []string{"fine", "bad \xff byte"})
	var lerr *Error
	if !errors.Is(err, ErrInvalidUTF8) || !errors.As(err, &lerr) || !strings.Contains(lerr.Detail, "text 1") ||
		!lerr.Status.IsInputError() {
		t.Errorf("invalid UTF-8: got %v", err)
	}
	if _, err := c.Embed(ctx, nil); !errors.Is(err, ErrEmptyBatch) {
		t.Errorf("empty batch: got %v", err)
	}
	if _, err := c.EmbedTokens(ctx, [][]int32{{101, 1 << 30, 102}}); !errors.Is(err, ErrTokenOutOfRange) {
		t.Errorf("token out of range: got %v", err)
	}
	if errors.Is(err, ErrTimeout) {
		t.Errorf("%v matches ErrTimeout", err)
	}
	if _, err := Open(ctx, &Options{SocketPath: f.socket + ".absent"}); !errors.Is(err, ErrDaemonUnavailable) ||
		!strings.Contains(err.Error(), ".absent") {
		t.Errorf("no daemon: got %v", err)
	}
	closed := open(t, f)
	closed.Close()
	if _, err := closed.Embed(ctx, []string{"x"}); !errors.Is(err, ErrInvalidArg) {
		t.Errorf("closed client: got %v", err)
	}
}

func TestEmbedTokensGivesUnitRows(t *testing.T) {
	f := loadFixture(t)
	c := open(t, f)
	rows, err := c.EmbedTokens(context.Background(), [][]int32{{101, 102}, {101, 2023, 2003, 102}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		var ss float64
		for _, v := range r {
			ss += float64(v) * float64(v)
		}
		if math.Abs(ss-1) > 1e-5 {
			t.Errorf("row %d: squared norm %v", i, ss)
		}
	}
	again, err := c.EmbedTokens(context.Background(), [][]int32{{101, 2023, 2003, 102}})
	if err != nil || !sameBits(again[0], rows[1]) {
		t.Errorf("the same sequence alone differs from it in a batch (%v)", err)
	}
}

func TestContextsBoundTheCall(t *testing.T) {
	f := loadFixture(t)
	c := open(t, f)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Embed(cancelled, f.sentences); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v", err)
	}
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := c.Embed(past, f.sentences); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired deadline: got %v", err)
	}
	// A deadline too short for a large batch: the call gives up (here, or lamd drops it
	// unstarted), and the client serves the next call normally.
	big := make([]string, 0, 4096)
	for len(big) < cap(big) {
		big = append(big, f.sentences...)
	}
	short, cancel3 := context.WithTimeout(context.Background(), 2*time.Millisecond)
	defer cancel3()
	if _, err := c.Embed(short, big); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrDeadlineExceeded) &&
		!errors.Is(err, ErrTooLarge) {
		t.Errorf("2 ms for %d texts: got %v", len(big), err)
	} else {
		t.Logf("2 ms for %d texts: %v", len(big), err)
	}
	rows, err := c.Embed(context.Background(), f.sentences[:1])
	if err != nil || !sameBits(rows[0], f.reference[0]) {
		t.Errorf("after an abandoned call: %v", err)
	}
}

func TestStatusTableIsTheHeaders(t *testing.T) {
	src := os.Getenv("LAM_SOURCE_DIR")
	if src == "" {
		t.Skip("LAM_SOURCE_DIR not set")
	}
	raw, err := os.ReadFile(filepath.Join(src, "include", "lam", "lam_status.h"))
	if err != nil {
		t.Fatal(err)
	}
	entries := regexp.MustCompile(`X\((\w+),\s*(\d+),\s*"([^"]*)"\)`).FindAllStringSubmatch(string(raw), -1)
	if len(entries) != len(statusNames) {
		t.Fatalf("header lists %d codes, the package %d", len(entries), len(statusNames))
	}
	for _, e := range entries {
		n, _ := strconv.Atoi(e[2])
		if s := Status(n); s.Name() != e[1] || s.String() != e[3] {
			t.Errorf("status %d: Name %q String %q; header %q %q", n, s.Name(), s.String(), e[1], e[3])
		}
	}
}
