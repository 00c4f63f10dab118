//! Record encoding: one version byte, then JSON.
//!
//! JSON is self-describing, so a field added with `#[serde(default)]` never
//! bricks an existing database; the version byte lets a future change of
//! encoding be detected instead of misread.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The encoding version written in front of every record.
pub const RECORD_VERSION: u8 = 1;

/// Encodes a record.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    // Serialising our own plain structs to JSON cannot fail: no maps with
    // non-string keys, no failing Serialize impls.
    if let Err(e) = serde_json::to_writer(&mut out, value) {
        unreachable!("record serialisation failed: {e}");
    }
    out
}

/// Decodes a record, naming what is wrong if it cannot.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, body)) => serde_json::from_slice(body).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!("unknown record version {v}")),
        None => Err("empty record".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reject_unknown_version() {
        let bytes = encode(&vec![1, 2, 3]);
        assert_eq!(decode::<Vec<i32>>(&bytes).unwrap(), vec![1, 2, 3]);
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(decode::<Vec<i32>>(&bad).unwrap_err().contains("version 9"));
        assert!(decode::<Vec<i32>>(&[]).is_err());
    }
}
