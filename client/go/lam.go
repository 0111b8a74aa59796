// SPDX-License-Identifier: MIT

// Package lam is the Go client of lamd, the host daemon that serves sentence embeddings to
// local processes through shared memory. It wraps liblamclient (the C API of lam/lam.h) with
// cgo, found through pkg-config (lamclient.pc, from liblamclient-dev or `cmake --install`).
//
//	c, err := lam.Open(ctx, nil) // $LAMD_SOCKET or /run/lamd/lamd.sock
//	if err != nil { ... }
//	defer c.Close()
//	vecs, err := c.Embed(ctx, []string{"hello world"}) // [][]float32, one L2-normalised row per text
//
// A Client is safe for use by many goroutines at once: liblamclient batches their concurrent
// requests together. Contexts bound each call: a deadline becomes the request's timeout (lamd
// drops a request that has waited longer), and a cancelled context abandons the request.
// Errors from the library are *Error values; compare them with errors.Is(err, lam.ErrTimeout).
package lam

/*
#cgo pkg-config: lamclient
#include <stdlib.h>
#include <lam/lam.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// Error is a failed liblamclient call: its status and the library's detail message.
type Error struct {
	Status Status
	Detail string // lam_client_last_error(); may be empty
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "lam: " + e.Status.String()
	}
	return "lam: " + e.Status.String() + ": " + e.Detail
}

// Is matches another *Error with the same status (the Err* sentinels).
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Status == e.Status
}

// Options configure Open. The zero value (or nil) gives the library's defaults.
type Options struct {
	SocketPath     string        // "" = $LAMD_SOCKET, else /run/lamd/lamd.sock
	Timeout        time.Duration // default per-call timeout when the context has no deadline; 0 = 30 s
	ConnectTimeout time.Duration // connect + hello; 0 = 5 s (a context deadline shortens it)
	ArenaBytes     uint64        // shared-memory payload arena; 0 = the daemon's default
}

// ModelInfo describes what lamd serves.
type ModelInfo struct {
	EmbeddingDim int
	MaxTokens    int
	VocabSize    int
	Buckets      []int
	Fingerprint  string
	Name         string
	Backend      string // "cpu" or "cuda"
	DaemonEpoch  uint64 // changes whenever lamd restarts
	Precision    string // "fp32" (bit-exact), "bf16" (CPU) or "tf32" (CUDA) (lamd --precision)
}

// Client is a connection to lamd (a lam_client).
type Client struct {
	mu sync.RWMutex // calls hold it shared; Close holds it exclusively
	c  *C.lam_client
}

// pollSlice is how long one lam_client_wait blocks before the context is looked at again.
const pollSlice = 20 * time.Millisecond

func millis(d time.Duration) C.uint32_t {
	if d <= 0 {
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms >= C.LAM_TIMEOUT_INFINITE {
		ms = C.LAM_TIMEOUT_INFINITE - 1
	}
	return C.uint32_t(ms)
}

// Open connects to lamd. It fails with an *Error (ErrDaemonUnavailable when nothing listens on
// the socket); once open, a lost daemon makes calls fail and a later call reconnects.
func Open(ctx context.Context, opts *Options) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var o C.lam_client_options
	C.lam_client_options_init(&o)
	if opts != nil {
		if opts.SocketPath != "" {
			path := C.CString(opts.SocketPath) // copied by lam_client_open
			defer C.free(unsafe.Pointer(path))
			o.socket_path = path
		}
		o.timeout_ms = millis(opts.Timeout)
		o.connect_timeout_ms = millis(opts.ConnectTimeout)
		o.arena_bytes = C.uint64_t(opts.ArenaBytes)
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := millis(time.Until(dl)); left > 0 && (o.connect_timeout_ms == 0 || left < o.connect_timeout_ms) {
			o.connect_timeout_ms = left
		}
	}
	var c *C.lam_client
	if st := Status(C.lam_client_open(&o, &c)); st != StatusOK {
		err := &Error{Status: st}
		if c != nil {
			err.Detail = C.GoString(C.lam_client_last_error(c))
			C.lam_client_close(c)
		}
		return nil, err
	}
	return &Client{c: c}, nil
}

// Close disconnects. Calls in progress on other goroutines finish first; later calls fail with
// ErrInvalidArg. Closing twice is harmless.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c != nil {
		C.lam_client_close(c.c)
		c.c = nil
	}
	return nil
}

// fail builds the *Error of a status on a live handle (caller holds mu).
func (c *Client) fail(st Status) error {
	return &Error{Status: st, Detail: C.GoString(C.lam_client_last_error(c.c))}
}

var errClosed = &Error{Status: StatusInvalidArg, Detail: "the client is closed"}

// EmbeddingDim is the number of floats per embedding (known since connect: no round trip).
func (c *Client) EmbeddingDim() (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.c == nil {
		return 0, errClosed
	}
	return c.dimLocked()
}

func (c *Client) dimLocked() (int, error) {
	var dim C.uint32_t
	if st := Status(C.lam_client_get_embedding_dim(c.c, &dim)); st != StatusOK {
		return 0, c.fail(st)
	}
	return int(dim), nil
}

// ModelInfo describes the served model.
func (c *Client) ModelInfo() (ModelInfo, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.c == nil {
		return ModelInfo{}, errClosed
	}
	var m C.lam_model_info
	C.lam_model_info_init(&m)
	if st := Status(C.lam_client_get_model_info(c.c, &m)); st != StatusOK {
		return ModelInfo{}, c.fail(st)
	}
	info := ModelInfo{
		EmbeddingDim: int(m.embedding_dim), MaxTokens: int(m.max_tokens), VocabSize: int(m.vocab_size),
		Fingerprint: C.GoString(&m.fingerprint[0]), Name: C.GoString(&m.name[0]),
		Backend: C.GoString(&m.backend[0]), DaemonEpoch: uint64(m.daemon_epoch),
		Precision: C.GoString(&m.precision[0]),
	}
	for i := 0; i < int(m.n_buckets) && i < len(m.buckets); i++ {
		info.Buckets = append(info.Buckets, int(m.buckets[i]))
	}
	return info, nil
}

// Ping makes a round trip through the shared-memory rings.
func (c *Client) Ping(ctx context.Context) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.c == nil {
		return errClosed
	}
	timeout := C.uint32_t(0)
	if dl, ok := ctx.Deadline(); ok {
		if timeout = millis(time.Until(dl)); timeout == 0 {
			return context.DeadlineExceeded
		}
	}
	if st := Status(C.lam_client_ping(c.c, timeout)); st != StatusOK {
		return c.fail(st)
	}
	return nil
}

// Embed embeds UTF-8 texts; lamd tokenises them with the model's vocabulary. It returns one
// L2-normalised row per text, bitwise the same whatever else lamd batches it with.
// Invalid UTF-8 is ErrInvalidUTF8 (the detail names the text and byte offset).
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.c == nil {
		return nil, errClosed
	}
	// The request lives in C memory: cgo forbids passing C a Go array of Go pointers.
	n := len(texts)
	total := 0
	for _, t := range texts {
		total += len(t)
	}
	ptrSize, lenSize := unsafe.Sizeof((*C.char)(nil)), unsafe.Sizeof(C.size_t(0))
	block := C.malloc(C.size_t(uintptr(n+1)*(ptrSize+lenSize) + uintptr(total) + 1))
	if block == nil {
		return nil, &Error{Status: StatusInternal, Detail: "out of memory"}
	}
	defer C.free(block)
	ptrs := unsafe.Slice((**C.char)(block), n+1)
	lens := unsafe.Slice((*C.size_t)(unsafe.Add(block, uintptr(n+1)*ptrSize)), n+1)
	bytes := unsafe.Slice((*byte)(unsafe.Add(block, uintptr(n+1)*(ptrSize+lenSize))), total+1)
	off := 0
	for i, t := range texts {
		copy(bytes[off:], t)
		ptrs[i] = (*C.char)(unsafe.Pointer(&bytes[off]))
		lens[i] = C.size_t(len(t))
		off += len(t)
	}
	var req C.lam_embed_text_request
	C.lam_embed_text_request_init(&req)
	req.texts = &ptrs[0]
	req.lengths = &lens[0]
	req.n_texts = C.size_t(n)
	return c.run(ctx, n, &req.timeout_ms, func(t *C.lam_ticket) C.lam_status {
		return C.lam_client_submit_text(c.c, &req, t)
	})
}

// EmbedTokens embeds token-id sequences (each with [CLS] and [SEP]); rows as Embed.
func (c *Client) EmbedTokens(ctx context.Context, sequences [][]int32) ([][]float32, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.c == nil {
		return nil, errClosed
	}
	// In C memory, as Embed's texts (the request struct must not point into Go memory).
	n := len(sequences)
	total := 0
	for _, s := range sequences {
		total += len(s)
	}
	block := C.malloc(C.size_t(4 * (n + total + 2)))
	if block == nil {
		return nil, &Error{Status: StatusInternal, Detail: "out of memory"}
	}
	defer C.free(block)
	lengths := unsafe.Slice((*C.uint32_t)(block), n+1)
	ids := unsafe.Slice((*C.int32_t)(unsafe.Add(block, 4*(n+1))), total+1)
	off := 0
	for i, s := range sequences {
		lengths[i] = C.uint32_t(len(s))
		for _, id := range s {
			ids[off] = C.int32_t(id)
			off++
		}
	}
	var req C.lam_embed_tokens_request
	C.lam_embed_tokens_request_init(&req)
	req.token_ids = &ids[0]
	req.lengths = &lengths[0]
	req.n_sequences = C.size_t(n)
	return c.run(ctx, n, &req.timeout_ms, func(t *C.lam_ticket) C.lam_status {
		return C.lam_client_submit_tokens(c.c, &req, t)
	})
}

// run submits a request (the library copies it before returning) and waits for its rows in
// slices, so that a cancelled context is noticed; the context's deadline, if any, is also the
// request's timeout in lamd. Caller holds mu shared.
func (c *Client) run(ctx context.Context, n int, timeout *C.uint32_t, submit func(*C.lam_ticket) C.lam_status) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		if *timeout = millis(time.Until(dl)); *timeout == 0 {
			return nil, context.DeadlineExceeded
		}
	}
	dim, err := c.dimLocked()
	if err != nil {
		return nil, err
	}
	var ticket C.lam_ticket
	if st := Status(submit(&ticket)); st != StatusOK {
		return nil, c.fail(st)
	}
	out := make([]float32, n*dim+1) // +1: &out[0] exists for an empty batch too
	var count C.size_t
	for {
		slice := pollSlice
		if hasDeadline {
			if left := time.Until(dl); left < slice {
				slice = left
			}
		}
		if slice < time.Millisecond {
			slice = time.Millisecond
		}
		st := Status(C.lam_client_wait(c.c, ticket, millis(slice), (*C.float)(unsafe.Pointer(&out[0])),
			C.size_t(n*dim), &count))
		if st == StatusOK {
			break
		}
		if st != StatusTimeout {
			return nil, c.fail(st)
		}
		if err := ctx.Err(); err != nil {
			C.lam_client_cancel(c.c, ticket)
			return nil, fmt.Errorf("lam: request abandoned: %w", err)
		}
	}
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = out[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return rows, nil
}
