// SPDX-License-Identifier: MIT

package lam

/*
#include <lam/lam.h>
*/
import "C"

import "fmt"

// Status is a lam_status code (include/lam/lam_status.h). The constants are the header's own
// (cgo), so a code that changes there fails this build instead of silently differing.
type Status int32

// The lam_status codes. Codes from 20 up are verdicts on the caller's input.
const (
	StatusOK                Status = C.LAM_STATUS_OK
	StatusInvalidArg        Status = C.LAM_STATUS_INVALID_ARG
	StatusDaemonUnavailable Status = C.LAM_STATUS_DAEMON_UNAVAILABLE
	StatusTimeout           Status = C.LAM_STATUS_TIMEOUT
	StatusBufferTooSmall    Status = C.LAM_STATUS_BUFFER_TOO_SMALL
	StatusProtocolMismatch  Status = C.LAM_STATUS_PROTOCOL_MISMATCH
	StatusModelNotLoaded    Status = C.LAM_STATUS_MODEL_NOT_LOADED
	StatusBackendFailed     Status = C.LAM_STATUS_BACKEND_FAILED
	StatusOverloaded        Status = C.LAM_STATUS_OVERLOADED
	StatusInternal          Status = C.LAM_STATUS_INTERNAL
	StatusTooLarge          Status = C.LAM_STATUS_TOO_LARGE
	StatusPermissionDenied  Status = C.LAM_STATUS_PERMISSION_DENIED
	StatusModelInvalid      Status = C.LAM_STATUS_MODEL_INVALID
	StatusIOError           Status = C.LAM_STATUS_IO_ERROR
	StatusNotFound          Status = C.LAM_STATUS_NOT_FOUND
	StatusCancelled         Status = C.LAM_STATUS_CANCELLED
	StatusDeadlineExceeded  Status = C.LAM_STATUS_DEADLINE_EXCEEDED
	StatusUnsupported       Status = C.LAM_STATUS_UNSUPPORTED
	StatusEmptyBatch        Status = C.LAM_STATUS_EMPTY_BATCH
	StatusEmptySequence     Status = C.LAM_STATUS_EMPTY_SEQUENCE
	StatusTokenOutOfRange   Status = C.LAM_STATUS_TOKEN_OUT_OF_RANGE
	StatusSequenceTooLong   Status = C.LAM_STATUS_SEQUENCE_TOO_LONG
	StatusInvalidUTF8       Status = C.LAM_STATUS_INVALID_UTF8
	StatusMalformedRequest  Status = C.LAM_STATUS_MALFORMED_REQUEST
	StatusPending           Status = C.LAM_STATUS_PENDING
)

var statusNames = map[Status]string{
	StatusOK:                "OK",
	StatusInvalidArg:        "INVALID_ARG",
	StatusDaemonUnavailable: "DAEMON_UNAVAILABLE",
	StatusTimeout:           "TIMEOUT",
	StatusBufferTooSmall:    "BUFFER_TOO_SMALL",
	StatusProtocolMismatch:  "PROTOCOL_MISMATCH",
	StatusModelNotLoaded:    "MODEL_NOT_LOADED",
	StatusBackendFailed:     "BACKEND_FAILED",
	StatusOverloaded:        "OVERLOADED",
	StatusInternal:          "INTERNAL",
	StatusTooLarge:          "TOO_LARGE",
	StatusPermissionDenied:  "PERMISSION_DENIED",
	StatusModelInvalid:      "MODEL_INVALID",
	StatusIOError:           "IO_ERROR",
	StatusNotFound:          "NOT_FOUND",
	StatusCancelled:         "CANCELLED",
	StatusDeadlineExceeded:  "DEADLINE_EXCEEDED",
	StatusUnsupported:       "UNSUPPORTED",
	StatusEmptyBatch:        "EMPTY_BATCH",
	StatusEmptySequence:     "EMPTY_SEQUENCE",
	StatusTokenOutOfRange:   "TOKEN_OUT_OF_RANGE",
	StatusSequenceTooLong:   "SEQUENCE_TOO_LONG",
	StatusInvalidUTF8:       "INVALID_UTF8",
	StatusMalformedRequest:  "MALFORMED_REQUEST",
	StatusPending:           "PENDING",
}

// Name is the code's name in lam_status.h ("TIMEOUT"), or "STATUS_<n>" for an unknown code.
func (s Status) Name() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("STATUS_%d", int32(s))
}

// String is lam_status_str(): the library's static description ("timed out").
func (s Status) String() string {
	return C.GoString(C.lam_status_str(C.lam_status(s)))
}

// IsInputError reports whether the status is a verdict on the request itself (codes 20 and up):
// retrying the same input cannot succeed.
func (s Status) IsInputError() bool { return s >= 20 }

// Sentinel errors, one per failing status, for errors.Is(err, lam.ErrTimeout).
var (
	ErrInvalidArg        = &Error{Status: StatusInvalidArg}
	ErrDaemonUnavailable = &Error{Status: StatusDaemonUnavailable}
	ErrTimeout           = &Error{Status: StatusTimeout}
	ErrBufferTooSmall    = &Error{Status: StatusBufferTooSmall}
	ErrProtocolMismatch  = &Error{Status: StatusProtocolMismatch}
	ErrModelNotLoaded    = &Error{Status: StatusModelNotLoaded}
	ErrBackendFailed     = &Error{Status: StatusBackendFailed}
	ErrOverloaded        = &Error{Status: StatusOverloaded}
	ErrInternal          = &Error{Status: StatusInternal}
	ErrTooLarge          = &Error{Status: StatusTooLarge}
	ErrPermissionDenied  = &Error{Status: StatusPermissionDenied}
	ErrModelInvalid      = &Error{Status: StatusModelInvalid}
	ErrIOError           = &Error{Status: StatusIOError}
	ErrNotFound          = &Error{Status: StatusNotFound}
	ErrCancelled         = &Error{Status: StatusCancelled}
	ErrDeadlineExceeded  = &Error{Status: StatusDeadlineExceeded}
	ErrUnsupported       = &Error{Status: StatusUnsupported}
	ErrEmptyBatch        = &Error{Status: StatusEmptyBatch}
	ErrEmptySequence     = &Error{Status: StatusEmptySequence}
	ErrTokenOutOfRange   = &Error{Status: StatusTokenOutOfRange}
	ErrSequenceTooLong   = &Error{Status: StatusSequenceTooLong}
	ErrInvalidUTF8       = &Error{Status: StatusInvalidUTF8}
	ErrMalformedRequest  = &Error{Status: StatusMalformedRequest}
	ErrPending           = &Error{Status: StatusPending}
)
