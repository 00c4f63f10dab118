//! Turning an export's bytes into text the CSV reader can split: the
//! encoding (UTF-8, a UTF-16 or UTF-8 BOM, else Windows-1252, which Excel
//! and Outlook write in Western European locales and which covers Latin-1),
//! and the delimiter (comma, or the semicolon or tab Excel writes where the
//! comma is the decimal separator), guessed from the header line.

/// Decoded file text and how it was read.
#[derive(Debug)]
pub struct Decoded {
    /// The file as text, without any byte-order mark.
    pub text: String,
    /// `Some("Windows-1252")` when the file was not UTF-8, for the report.
    pub encoding: Option<&'static str>,
}

/// Decodes `bytes`: a BOM names the encoding; valid UTF-8 is UTF-8;
/// anything else is read as Windows-1252 (every byte maps to a character,
/// so nothing is lost, and the report says which encoding was assumed).
pub fn decode(bytes: Vec<u8>) -> Decoded {
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(&bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        let name = (encoding != encoding_rs::UTF_8).then(|| encoding.name());
        return Decoded {
            text: text.into_owned(),
            encoding: name,
        };
    }
    match String::from_utf8(bytes) {
        Ok(text) => Decoded {
            text,
            encoding: None,
        },
        Err(e) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(e.as_bytes());
            Decoded {
                text: text.into_owned(),
                encoding: Some("Windows-1252"),
            }
        }
    }
}

/// The delimiter of the header line: whichever of `,` `;` and tab occurs most
/// outside quotes (a comma on a tie or when none occurs).
pub fn delimiter(text: &str) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted => break,
            ',' if !quoted => counts[0] += 1,
            ';' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = [b',', b';', b'\t']
        .into_iter()
        .zip(counts)
        .max_by_key(|&(d, n)| (n, d == b','))
        .map(|(d, _)| d);
    best.unwrap_or(b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_kept_and_windows_1252_is_decoded() {
        let d = decode("Müller,ü\n".as_bytes().to_vec());
        assert_eq!((d.text.as_str(), d.encoding), ("Müller,ü\n", None));
        let d = decode(b"\xef\xbb\xbfname\n".to_vec());
        assert_eq!((d.text.as_str(), d.encoding), ("name\n", None));
        // "Müller;Straße €" in Windows-1252.
        let d = decode(b"M\xfcller;Stra\xdfe \x80".to_vec());
        assert_eq!(d.text, "Müller;Straße €");
        assert_eq!(d.encoding, Some("Windows-1252"));
        let d = decode(b"\xff\xfen\x00a\x00".to_vec());
        assert_eq!((d.text.as_str(), d.encoding), ("na", Some("UTF-16LE")));
    }

    #[test]
    fn delimiter_comes_from_the_header_line() {
        assert_eq!(delimiter("name,email\nx;y;z"), b',');
        assert_eq!(delimiter("Vorname;Nachname;E-Mail-Adresse\n"), b';');
        assert_eq!(delimiter("First Name\tE-mail Address\r\n"), b'\t');
        assert_eq!(delimiter("\"Name; with semicolon\",email\n"), b',');
        assert_eq!(delimiter("name\n"), b',');
    }
}
