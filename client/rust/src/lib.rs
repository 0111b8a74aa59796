// SPDX-License-Identifier: MIT
//! Rust client of lamd, the host daemon that serves sentence embeddings to local processes
//! through shared memory. A safe wrapper over liblamclient (`lam/lam.h`); [`sys`] has the raw
//! declarations.
//!
//! ```no_run
//! let client = lam::Client::open(&lam::Options::default())?; // $LAMD_SOCKET or /run/lamd/lamd.sock
//! let rows = client.embed(&["hello world", "a second sentence"])?;
//! for row in rows.iter() {
//!     assert_eq!(row.len(), client.embedding_dim()?);
//! }
//! # Ok::<(), lam::Error>(())
//! ```
//!
//! A [`Client`] is `Send` and `Sync`: liblamclient allows any number of threads to call into
//! one handle at once (it batches their requests together), so share it with an `Arc`.

pub mod sys;

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::c_char;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::time::Duration;

macro_rules! statuses {
    ($($variant:ident = $num:literal, $name:literal;)*) => {
        /// What went wrong: the failing `lam_status` codes of `lam/lam_status.h`. Codes from 20
        /// up are verdicts on the request itself ([`ErrorKind::is_input_error`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorKind {
            $($variant,)*
            /// A code this crate does not know (a newer library).
            Unknown,
        }

        impl ErrorKind {
            fn from_code(code: i32) -> ErrorKind {
                match code {
                    $($num => ErrorKind::$variant,)*
                    _ => ErrorKind::Unknown,
                }
            }

            /// The code's name in lam_status.h ("TIMEOUT").
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $name,)*
                    ErrorKind::Unknown => "UNKNOWN",
                }
            }

            /// Every kind with its lam_status number (tests compare it with the header).
            pub fn all() -> &'static [(ErrorKind, i32)] {
                &[$((ErrorKind::$variant, $num),)*]
            }
        }
    };
}

statuses! {
    InvalidArg = 1, "INVALID_ARG";
    DaemonUnavailable = 2, "DAEMON_UNAVAILABLE";
    Timeout = 3, "TIMEOUT";
    BufferTooSmall = 4, "BUFFER_TOO_SMALL";
    ProtocolMismatch = 5, "PROTOCOL_MISMATCH";
    ModelNotLoaded = 6, "MODEL_NOT_LOADED";
    BackendFailed = 7, "BACKEND_FAILED";
    Overloaded = 8, "OVERLOADED";
    Internal = 9, "INTERNAL";
    TooLarge = 10, "TOO_LARGE";
    PermissionDenied = 11, "PERMISSION_DENIED";
    ModelInvalid = 12, "MODEL_INVALID";
    IoError = 13, "IO_ERROR";
    NotFound = 14, "NOT_FOUND";
    Cancelled = 15, "CANCELLED";
    DeadlineExceeded = 16, "DEADLINE_EXCEEDED";
    Unsupported = 17, "UNSUPPORTED";
    EmptyBatch = 20, "EMPTY_BATCH";
    EmptySequence = 21, "EMPTY_SEQUENCE";
    TokenOutOfRange = 22, "TOKEN_OUT_OF_RANGE";
    SequenceTooLong = 23, "SEQUENCE_TOO_LONG";
    InvalidUtf8 = 24, "INVALID_UTF8";
    MalformedRequest = 25, "MALFORMED_REQUEST";
    Pending = 26, "PENDING";
}

impl ErrorKind {
    /// True for verdicts on the caller's input: the same request can never succeed.
    pub fn is_input_error(self) -> bool {
        ErrorKind::all().iter().any(|&(k, n)| k == self && n >= 20)
    }
}

/// A failed liblamclient call: the `lam_status` code and the library's detail message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: i32,
    detail: String,
}

/// `Result<T, lam::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    fn new(code: i32, detail: impl Into<String>) -> Error {
        Error { code, detail: detail.into() }
    }
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_code(self.code)
    }
    /// The raw `lam_status` number.
    pub fn code(&self) -> i32 {
        self.code
    }
    /// `lam_client_last_error()` of the failed call ("text 1: invalid UTF-8 at byte offset 4 ...");
    /// may be empty.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

/// `lam_status_str()`: the library's static description of a code ("timed out").
pub fn status_str(code: i32) -> &'static str {
    // SAFETY: lam_status_str returns a static NUL-terminated string for any code.
    unsafe { CStr::from_ptr(sys::lam_status_str(code)) }.to_str().unwrap_or("?")
}

/// Version of the loaded liblamclient ("X.Y.Z").
pub fn library_version() -> &'static str {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(sys::lam_version_string()) }.to_str().unwrap_or("?")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "lam: {}", status_str(self.code))
        } else {
            write!(f, "lam: {}: {}", status_str(self.code), self.detail)
        }
    }
}

impl std::error::Error for Error {}

/// Options of [`Client::open`]; `Default` gives the library's defaults.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `None`: `$LAMD_SOCKET`, else `/run/lamd/lamd.sock`.
    pub socket_path: Option<PathBuf>,
    /// Default per-call timeout; `None` = 30 s.
    pub timeout: Option<Duration>,
    /// Connect + hello; `None` = 5 s.
    pub connect_timeout: Option<Duration>,
    /// Shared-memory payload arena; 0 = the daemon's default.
    pub arena_bytes: u64,
}

fn millis(d: Option<Duration>) -> u32 {
    match d {
        None => 0,
        Some(d) => {
            let ms = (d.as_nanos() + 999_999) / 1_000_000;
            ms.clamp(1, u128::from(sys::LAM_TIMEOUT_INFINITE - 1)) as u32
        }
    }
}

/// What lamd serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub embedding_dim: usize,
    pub max_tokens: usize,
    pub vocab_size: usize,
    pub buckets: Vec<u32>,
    pub fingerprint: String,
    pub name: String,
    /// "cpu" or "cuda".
    pub backend: String,
    /// Changes whenever lamd restarts.
    pub daemon_epoch: u64,
    /// "fp32" (bit-exact), "bf16" (CPU) or "tf32" (CUDA) (lamd --precision).
    pub precision: String,
}

/// Rows of embeddings, stored contiguously (`len() * dim()` floats).
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    dim: usize,
    data: Vec<f32>,
}

impl Embeddings {
    /// Floats per row.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        if self.dim == 0 {
            0
        } else {
            self.data.len() / self.dim
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Row `i` (panics when out of range, as slice indexing does).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    pub fn iter(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.dim.max(1))
    }
    /// All rows, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
}

/// A connection to lamd (`lam_client`). Closed on drop.
pub struct Client {
    raw: NonNull<sys::lam_client>,
}

// SAFETY: lam.h: "A lam_client may be used from several threads at once"; it is not tied to the
// thread that opened it. Closing needs exclusive ownership, which Drop has.
unsafe impl Send for Client {}
unsafe impl Sync for Client {}

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: the handle came from lam_client_open and is closed exactly once.
        unsafe { sys::lam_client_close(self.raw.as_ptr()) }
    }
}

fn c_str_field(field: &[c_char]) -> String {
    let bytes: Vec<u8> = field.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Client {
    /// Connects to lamd. Fails with [`ErrorKind::DaemonUnavailable`] when nothing listens; once
    /// open, a lost daemon makes calls fail and a later call reconnects.
    pub fn open(options: &Options) -> Result<Client> {
        let path = match &options.socket_path {
            Some(p) => Some(
                CString::new(p.to_string_lossy().into_owned())
                    .map_err(|_| Error::new(1, "socket path contains a NUL byte"))?,
            ),
            None => None,
        };
        // SAFETY: plain C structs initialised by the library's init functions; `path` outlives
        // the call (lam_client_open copies it).
        unsafe {
            let mut opts: sys::lam_client_options = std::mem::zeroed();
            sys::lam_client_options_init(&mut opts);
            opts.socket_path = path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
            opts.timeout_ms = millis(options.timeout);
            opts.connect_timeout_ms = millis(options.connect_timeout);
            opts.arena_bytes = options.arena_bytes;
            let mut raw: *mut sys::lam_client = std::ptr::null_mut();
            let st = sys::lam_client_open(&opts, &mut raw);
            if st != 0 {
                let detail = if raw.is_null() {
                    String::new()
                } else {
                    let d = CStr::from_ptr(sys::lam_client_last_error(raw)).to_string_lossy().into_owned();
                    sys::lam_client_close(raw);
                    d
                };
                return Err(Error::new(st, detail));
            }
            Ok(Client { raw: NonNull::new(raw).expect("lam_client_open returned OK and NULL") })
        }
    }

    /// Connects to the daemon on `socket_path` with the default options.
    pub fn connect(socket_path: impl Into<PathBuf>) -> Result<Client> {
        Client::open(&Options { socket_path: Some(socket_path.into()), ..Options::default() })
    }

    fn check(&self, st: sys::lam_status) -> Result<()> {
        if st == 0 {
            return Ok(());
        }
        // SAFETY: a live handle; the message is copied before any other call on this thread.
        let detail = unsafe { CStr::from_ptr(sys::lam_client_last_error(self.raw.as_ptr())) };
        Err(Error::new(st, detail.to_string_lossy().into_owned()))
    }

    /// Floats per embedding (known since connect: no round trip).
    pub fn embedding_dim(&self) -> Result<usize> {
        let mut dim = 0u32;
        // SAFETY: live handle, valid out pointer.
        self.check(unsafe { sys::lam_client_get_embedding_dim(self.raw.as_ptr(), &mut dim) })?;
        Ok(dim as usize)
    }

    /// Describes the served model.
    pub fn model_info(&self) -> Result<ModelInfo> {
        // SAFETY: plain C struct, initialised by the library.
        let mut m: sys::lam_model_info = unsafe { std::mem::zeroed() };
        unsafe { sys::lam_model_info_init(&mut m) };
        self.check(unsafe { sys::lam_client_get_model_info(self.raw.as_ptr(), &mut m) })?;
        Ok(ModelInfo {
            embedding_dim: m.embedding_dim as usize,
            max_tokens: m.max_tokens as usize,
            vocab_size: m.vocab_size as usize,
            buckets: m.buckets[..(m.n_buckets as usize).min(16)].to_vec(),
            fingerprint: c_str_field(&m.fingerprint),
            name: c_str_field(&m.name),
            backend: c_str_field(&m.backend),
            daemon_epoch: m.daemon_epoch,
            precision: c_str_field(&m.precision),
        })
    }

    /// A round trip through the shared-memory rings.
    pub fn ping(&self, timeout: Option<Duration>) -> Result<()> {
        // SAFETY: live handle.
        self.check(unsafe { sys::lam_client_ping(self.raw.as_ptr(), millis(timeout)) })
    }

    /// Embeds UTF-8 texts (lamd tokenises them with the model's vocabulary): one L2-normalised
    /// row per text, bitwise the same whatever else lamd batches it with.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embeddings> {
        self.embed_with_timeout(texts, None)
    }

    /// [`embed`](Client::embed) with a timeout for this call (lamd drops the request unstarted
    /// once it has waited longer); `None` = the client's default.
    pub fn embed_with_timeout<S: AsRef<str>>(&self, texts: &[S], timeout: Option<Duration>) -> Result<Embeddings> {
        let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_ref().as_bytes()).collect();
        self.embed_bytes(&bytes, timeout)
    }

    /// Embeds texts given as raw bytes: lamd checks them, and invalid UTF-8 fails with
    /// [`ErrorKind::InvalidUtf8`] naming the text and byte offset.
    pub fn embed_bytes(&self, texts: &[&[u8]], timeout: Option<Duration>) -> Result<Embeddings> {
        let ptrs: Vec<*const c_char> = texts.iter().map(|t| t.as_ptr() as *const c_char).collect();
        let lens: Vec<usize> = texts.iter().map(|t| t.len()).collect();
        let dim = self.embedding_dim()?;
        let mut data = vec![0f32; texts.len() * dim];
        let mut count = 0usize;
        // SAFETY: the request borrows `ptrs`, `lens` and the texts for the call only; `data` has
        // room for texts.len() * dim floats, which the library checks against out_capacity.
        let st = unsafe {
            let mut req: sys::lam_embed_text_request = std::mem::zeroed();
            sys::lam_embed_text_request_init(&mut req);
            req.texts = ptrs.as_ptr();
            req.lengths = lens.as_ptr();
            req.n_texts = texts.len();
            req.timeout_ms = millis(timeout);
            sys::lam_client_embed_text(self.raw.as_ptr(), &req, data.as_mut_ptr(), data.len(), &mut count)
        };
        self.check(st)?;
        Ok(Embeddings { dim, data })
    }

    /// Embeds token-id sequences (each with [CLS] and [SEP]); rows as [`embed`](Client::embed).
    pub fn embed_tokens<T: AsRef<[i32]>>(&self, sequences: &[T], timeout: Option<Duration>) -> Result<Embeddings> {
        let ids: Vec<i32> = sequences.iter().flat_map(|s| s.as_ref().iter().copied()).collect();
        let lengths = sequences
            .iter()
            .map(|s| u32::try_from(s.as_ref().len()).map_err(|_| Error::new(23, "sequence longer than 2^32 tokens")))
            .collect::<Result<Vec<u32>>>()?;
        let dim = self.embedding_dim()?;
        let mut data = vec![0f32; sequences.len() * dim];
        let mut count = 0usize;
        // SAFETY: as embed_bytes.
        let st = unsafe {
            let mut req: sys::lam_embed_tokens_request = std::mem::zeroed();
            sys::lam_embed_tokens_request_init(&mut req);
            req.token_ids = ids.as_ptr();
            req.lengths = lengths.as_ptr();
            req.n_sequences = sequences.len();
            req.timeout_ms = millis(timeout);
            sys::lam_client_embed_tokens(self.raw.as_ptr(), &req, data.as_mut_ptr(), data.len(), &mut count)
        };
        self.check(st)?;
        Ok(Embeddings { dim, data })
    }
}
