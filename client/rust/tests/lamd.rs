// SPDX-License-Identifier: MIT
// The crate against a running lamd and the reference embeddings `lamctl embed --text` printed
// through it (tests/clients; `ctest -L clients` sets LAMD_SOCKET, LAM_CLIENT_SENTENCES and
// LAM_CLIENT_REFERENCE). Without them each test returns early, saying so.
use std::env;
use std::fs;
use std::sync::Arc;
use std::thread;

use lam::{Client, ErrorKind};

struct Fixture {
    socket: String,
    sentences: Vec<String>,
    reference: Vec<Vec<f32>>,
}

fn fixture() -> Option<Fixture> {
    let (socket, sent, refs) =
        match (env::var("LAMD_SOCKET"), env::var("LAM_CLIENT_SENTENCES"), env::var("LAM_CLIENT_REFERENCE")) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            _ => {
                eprintln!("no lamd: run through ctest -L clients; test skipped");
                return None;
            }
        };
    let text = fs::read_to_string(sent).expect("sentences");
    let sentences: Vec<String> = text.strip_suffix('\n').unwrap_or(&text).split('\n').map(String::from).collect();
    // Each line is a JSON array of numbers with 9 significant digits: parsed as f32 they are
    // exactly the floats lamd computed.
    let reference: Vec<Vec<f32>> = fs::read_to_string(refs)
        .expect("reference")
        .lines()
        .map(|line| {
            line.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(|v| v.parse::<f32>().expect("float"))
                .collect()
        })
        .collect();
    assert_eq!(sentences.len(), reference.len());
    assert!(!reference.is_empty());
    Some(Fixture { socket, sentences, reference })
}

fn bits(row: &[f32]) -> Vec<u32> {
    row.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn embed_returns_lamctl_embeddings_bit_for_bit() {
    let f = match fixture() {
        Some(f) => f,
        None => return,
    };
    let client = Client::connect(&f.socket).expect("connect");
    let rows = client.embed(&f.sentences).expect("embed");
    assert_eq!(rows.len(), f.reference.len());
    assert_eq!(rows.dim(), f.reference[0].len());
    for (i, (got, want)) in rows.iter().zip(&f.reference).enumerate() {
        assert_eq!(bits(got), bits(want), "sentence {} ({:?})", i, f.sentences[i]);
    }
    assert_eq!(client.embedding_dim().unwrap(), rows.dim());
    let info = client.model_info().unwrap();
    assert_eq!(info.embedding_dim, rows.dim());
    assert_eq!(info.backend, "cpu");
    assert!(!info.fingerprint.is_empty());
    client.ping(None).unwrap();
}

#[test]
fn many_threads_share_one_client() {
    let f = match fixture() {
        Some(f) => Arc::new(f),
        None => return,
    };
    let client = Arc::new(Client::connect(&f.socket).expect("connect"));
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let (client, f) = (Arc::clone(&client), Arc::clone(&f));
            thread::spawn(move || {
                for j in 0..4 {
                    let i = (t + j) % f.sentences.len();
                    let rows = client.embed(&[&f.sentences[i]]).expect("embed");
                    assert_eq!(bits(rows.row(0)), bits(&f.reference[i]), "thread {} sentence {}", t, i);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
}

#[test]
fn statuses_come_back_as_typed_errors() {
    let f = match fixture() {
        Some(f) => f,
        None => return,
    };
    let client = Client::connect(&f.socket).expect("connect");
    let err = client.embed_bytes(&[b"fine", b"bad \xff byte"], None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidUtf8);
    assert!(err.kind().is_input_error());
    assert_eq!(err.code(), 24);
    assert!(err.detail().contains("text 1"), "{}", err);
    assert_eq!(client.embed::<&str>(&[]).unwrap_err().kind(), ErrorKind::EmptyBatch);
    let err = client.embed_tokens(&[[101, 1 << 30, 102]], None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TokenOutOfRange);
    let err = client.embed_tokens(&[vec![101, 102], vec![]], None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EmptySequence);
    let err = Client::connect(format!("{}.absent", f.socket)).err().expect("no daemon there");
    assert_eq!(err.kind(), ErrorKind::DaemonUnavailable);
    assert!(!err.kind().is_input_error());
    assert!(err.to_string().contains(".absent"), "{}", err);
    // The client is still usable after failures.
    let rows = client.embed(&[&f.sentences[0]]).unwrap();
    assert_eq!(bits(rows.row(0)), bits(&f.reference[0]));
}

#[test]
fn embed_tokens_gives_unit_rows_independent_of_batch_mates() {
    let f = match fixture() {
        Some(f) => f,
        None => return,
    };
    let client = Client::connect(&f.socket).expect("connect");
    let rows = client.embed_tokens(&[vec![101, 102], vec![101, 2023, 2003, 102]], None).unwrap();
    for row in rows.iter() {
        let ss: f64 = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        assert!((ss - 1.0).abs() < 1e-5, "squared norm {}", ss);
    }
    let alone = client.embed_tokens(&[[101, 2023, 2003, 102]], None).unwrap();
    assert_eq!(bits(alone.row(0)), bits(rows.row(1)));
}

#[test]
fn status_table_is_the_headers() {
    let src = match env::var("LAM_SOURCE_DIR") {
        Ok(s) => s,
        Err(_) => return,
    };
    let header = fs::read_to_string(format!("{}/include/lam/lam_status.h", src)).unwrap();
    // Lines `  X(NAME, number, "text")   \` of LAM_STATUS_MAP.
    let mut listed = Vec::new();
    for line in header.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("X(") {
            let mut parts = rest.splitn(3, ',');
            let name = parts.next().unwrap().trim().to_string();
            let num: i32 = parts.next().unwrap().trim().parse().unwrap();
            let text = parts.next().unwrap().split('"').nth(1).unwrap().to_string();
            listed.push((name, num, text));
        }
    }
    assert_eq!(listed.len(), lam::ErrorKind::all().len() + 1, "codes besides OK");
    for (name, num, text) in &listed {
        assert_eq!(lam::status_str(*num), text);
        if *num != 0 {
            let kind = lam::ErrorKind::all().iter().find(|(_, n)| n == num).map(|(k, _)| *k);
            assert_eq!(kind.map(|k| k.name()), Some(name.as_str()), "status {}", num);
        }
    }
}
