//! What `kvt kyc verify` accepts (KYC-1, issue 10): JPEG, PNG, TIFF, WebP
//! and PDF (first page), recognised by their bytes — never by the file
//! name — and refused before any OCR when they are something else, empty,
//! truncated or too large. Pure. The error messages name the problem and
//! never quote the file's content.

use std::fmt;

/// Accepted document formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Tiff,
    Webp,
    Pdf,
}

/// Why a file is refused (exit 2, before OCR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Empty,
    TooLarge {
        size: u64,
        limit: u64,
    },
    /// Recognised as `what`, which is not an identity-document image.
    Unsupported {
        what: &'static str,
    },
    /// The header of a supported format, cut short.
    Truncated {
        format: Format,
    },
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Empty => f.write_str("the file is empty"),
            Refused::TooLarge { size, limit } => write!(
                f,
                "the file is too large: {size} bytes, above the limit of {limit} bytes ([kyc] max_size, KVT_KYC_MAX_SIZE)"
            ),
            Refused::Unsupported { what } => write!(
                f,
                "{what} is not a supported document: send a JPEG, PNG, TIFF, WebP or PDF"
            ),
            Refused::Truncated { format } => {
                write!(
                    f,
                    "the {format:?} file is truncated (its header is incomplete)"
                )
            }
        }
    }
}

impl std::error::Error for Refused {}

/// Smallest plausible file of each format (header and one chunk).
fn minimum(format: Format) -> usize {
    match format {
        Format::Jpeg => 4,
        Format::Png => 33,
        Format::Tiff => 8,
        Format::Webp => 16,
        Format::Pdf => 8,
    }
}

/// The format of `bytes`, or why they are refused. `size` is the file's
/// size (checked before reading it whole); `limit` the configured maximum.
pub fn sniff(bytes: &[u8], size: u64, limit: u64) -> Result<Format, Refused> {
    if size == 0 || bytes.is_empty() {
        return Err(Refused::Empty);
    }
    if size > limit {
        return Err(Refused::TooLarge { size, limit });
    }
    let format = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Format::Jpeg
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Format::Png
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Format::Tiff
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Format::Webp
    } else if bytes.starts_with(b"%PDF-") {
        Format::Pdf
    } else {
        return Err(Refused::Unsupported {
            what: describe(bytes),
        });
    };
    if bytes.len() < minimum(format) {
        return Err(Refused::Truncated { format });
    }
    Ok(format)
}

/// A name for a refused file's content (never the content itself).
fn describe(bytes: &[u8]) -> &'static str {
    let starts = |p: &[u8]| bytes.starts_with(p);
    if starts(b"GIF8") {
        "a GIF image"
    } else if starts(b"BM") {
        "a BMP image"
    } else if starts(b"PK\x03\x04") {
        "a ZIP archive (or an office document)"
    } else if starts(b"\x1f\x8b") {
        "a gzip archive"
    } else if starts(b"\x7fELF") {
        "an executable"
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        "a HEIC/AVIF image or a video"
    } else if std::str::from_utf8(&bytes[..bytes.len().min(512)]).is_ok() {
        "a text file"
    } else {
        "this file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 10 * 1024 * 1024;

    fn ok(b: &[u8]) -> Result<Format, Refused> {
        sniff(b, b.len() as u64, LIMIT)
    }

    #[test]
    fn each_supported_format_is_recognised_by_its_bytes() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.resize(64, 0);
        assert_eq!(ok(&png), Ok(Format::Png));
        assert_eq!(ok(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Ok(Format::Jpeg));
        assert_eq!(ok(b"II*\0\x08\0\0\0"), Ok(Format::Tiff));
        assert_eq!(ok(b"MM\0*\0\0\0\x08"), Ok(Format::Tiff));
        assert_eq!(ok(b"RIFF\x24\0\0\0WEBPVP8 "), Ok(Format::Webp));
        assert_eq!(ok(b"%PDF-1.7\n%\xE2\xE3"), Ok(Format::Pdf));
    }

    #[test]
    fn everything_else_is_refused_with_a_reason_and_no_content() {
        assert_eq!(ok(b""), Err(Refused::Empty));
        assert_eq!(sniff(b"x", 0, LIMIT), Err(Refused::Empty));
        assert_eq!(
            sniff(b"\xFF\xD8\xFF", LIMIT + 1, LIMIT),
            Err(Refused::TooLarge {
                size: LIMIT + 1,
                limit: LIMIT
            })
        );
        assert_eq!(
            ok(b"\x89PNG\r\n\x1a\n\0\0"),
            Err(Refused::Truncated {
                format: Format::Png
            })
        );
        let text = b"Jean DUPONT, ne le 01/02/2000, passeport 12AB34567";
        let e = ok(text).unwrap_err();
        assert_eq!(
            e,
            Refused::Unsupported {
                what: "a text file"
            }
        );
        assert!(!e.to_string().contains("DUPONT"));
        for (bytes, what) in [
            (&b"GIF89a\x01\0"[..], "a GIF image"),
            (b"BM\x36\0\0\0", "a BMP image"),
            (b"PK\x03\x04\x14\0", "a ZIP archive (or an office document)"),
            (b"\0\0\0\x18ftypheic\0\0", "a HEIC/AVIF image or a video"),
            (b"\x80\x81\x82\xff\xfe", "this file"),
        ] {
            assert_eq!(ok(bytes), Err(Refused::Unsupported { what }));
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = 0xdead_beef_u64;
        for n in 0..2_000usize {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let b: Vec<u8> = (0..n % 40).map(|i| (rng >> (i % 56)) as u8).collect();
            let _ = ok(&b);
        }
    }
}
