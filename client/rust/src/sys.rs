// SPDX-License-Identifier: MIT
//! Raw declarations of `lam/lam.h` (the subset the safe wrapper uses). Layouts are those the C
//! header freezes (tests/abi); every struct is initialised with its `lam_*_init` function.
#![allow(non_camel_case_types)]

use std::os::raw::c_char;

pub type lam_status = i32;
pub type lam_ticket = u64;

/// Opaque connection handle.
#[repr(C)]
pub struct lam_client {
    _private: [u8; 0],
}

#[repr(C)]
pub struct lam_client_options {
    pub struct_size: u32,
    pub flags: u32,
    pub socket_path: *const c_char,
    pub arena_bytes: u64,
    pub timeout_ms: u32,
    pub connect_timeout_ms: u32,
}

#[repr(C)]
pub struct lam_model_info {
    pub struct_size: u32,
    pub embedding_dim: u32,
    pub max_tokens: u32,
    pub vocab_size: u32,
    pub n_buckets: u32,
    pub buckets: [u32; 16],
    pub fingerprint: [c_char; 72],
    pub name: [c_char; 64],
    pub backend: [c_char; 16],
    pub daemon_epoch: u64,
    pub precision: [c_char; 16],
}

#[repr(C)]
pub struct lam_embed_tokens_request {
    pub struct_size: u32,
    pub flags: u32,
    pub token_ids: *const i32,
    pub lengths: *const u32,
    pub n_sequences: usize,
    pub timeout_ms: u32,
    pub reserved: u32,
}

#[repr(C)]
pub struct lam_embed_text_request {
    pub struct_size: u32,
    pub flags: u32,
    pub texts: *const *const c_char,
    pub lengths: *const usize,
    pub n_texts: usize,
    pub timeout_ms: u32,
    pub max_tokens: u32,
}

pub const LAM_TIMEOUT_INFINITE: u32 = 0xFFFF_FFFF;

extern "C" {
    pub fn lam_status_str(status: lam_status) -> *const c_char;
    pub fn lam_version_string() -> *const c_char;
    pub fn lam_client_options_init(options: *mut lam_client_options);
    pub fn lam_model_info_init(info: *mut lam_model_info);
    pub fn lam_embed_tokens_request_init(request: *mut lam_embed_tokens_request);
    pub fn lam_embed_text_request_init(request: *mut lam_embed_text_request);
    pub fn lam_client_open(options: *const lam_client_options, out: *mut *mut lam_client) -> lam_status;
    pub fn lam_client_close(client: *mut lam_client);
    pub fn lam_client_last_error(client: *const lam_client) -> *const c_char;
    pub fn lam_client_get_model_info(client: *mut lam_client, out: *mut lam_model_info) -> lam_status;
    pub fn lam_client_get_embedding_dim(client: *mut lam_client, dim: *mut u32) -> lam_status;
    pub fn lam_client_embed_tokens(
        client: *mut lam_client,
        request: *const lam_embed_tokens_request,
        out: *mut f32,
        out_capacity: usize,
        out_count: *mut usize,
    ) -> lam_status;
    pub fn lam_client_embed_text(
        client: *mut lam_client,
        request: *const lam_embed_text_request,
        out: *mut f32,
        out_capacity: usize,
        out_count: *mut usize,
    ) -> lam_status;
    pub fn lam_client_ping(client: *mut lam_client, timeout_ms: u32) -> lam_status;
}
