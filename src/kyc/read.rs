//! From document bytes to evidence (KYC-3…6): sniff, decode, preprocess,
//! MRZ first (band, then the whole image, at two thresholds), the visual
//! zone when the MRZ is missing or lacks the expiry (French card), and the
//! confidence. Everything stays in memory; nothing read is logged.

use chrono::NaiveDate;
use image::GrayImage;

use super::decide::{self, Evidence};
use super::input::{self, Format};
use super::mrz::{self, Layout, Mrz};
use super::ocr::{Engines, Psm};
use super::prep;
use super::visual;

/// Longer side of the working image, in pixels (~300 dpi for a card).
const WORKING_SIDE: u32 = 1600;

/// What one document gave, before the decision.
#[derive(Debug)]
pub struct Reading {
    pub format: Format,
    pub mrz: Option<Mrz>,
    pub visual: visual::Visual,
    /// KYC-6, 0 to 1 (D-105).
    pub confidence: f64,
    /// The passes that ran, for logs and benchmarks (no content).
    pub passes: Vec<&'static str>,
}

impl Reading {
    /// `doc_type` of KYC-9, in silver's canonical spelling.
    pub fn doc_type(&self) -> Option<&'static str> {
        match &self.mrz {
            Some(m) if m.checks.all() || self.visual.doc_type.is_none() => Some(doc_type_of(m)),
            _ => self.visual.doc_type,
        }
    }

    /// The evidence the decision uses. A birth date is taken from the MRZ
    /// only when every check digit passed; the French card's expiry comes
    /// from the visual zone (it is not in its MRZ).
    pub fn evidence(&self, today: NaiveDate) -> Evidence {
        match &self.mrz {
            Some(m) => {
                let ok = m.checks.all();
                let birth = m
                    .birth
                    .filter(|_| ok)
                    .and_then(|b| decide::birth_date(b, today));
                let expiry = match m.layout {
                    Layout::FrenchId => self.visual.expiry,
                    _ => m.expiry.filter(|_| ok).and_then(decide::expiry_date),
                };
                Evidence {
                    confidence: self.confidence,
                    check_digits_ok: ok,
                    birth,
                    expiry,
                }
            }
            None => Evidence {
                confidence: self.confidence,
                check_digits_ok: true,
                birth: self.visual.birth.filter(|b| *b <= today),
                expiry: self.visual.expiry,
            },
        }
    }
}

fn doc_type_of(m: &Mrz) -> &'static str {
    let code = m.doc_code.as_bytes();
    match (code.first(), code.get(1)) {
        (Some(b'P'), _) => "Passeport",
        (_, Some(b'R')) | (Some(b'R'), _) => "Titre de séjour",
        _ => "CNI",
    }
}

/// Why a document could not be read at all (exit 2, HTTP 4xx).
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    #[error("{0}")]
    Refused(#[from] input::Refused),
    #[error("{0}")]
    Decode(#[from] prep::DecodeError),
}

/// The confidence of a reading (D-105): an MRZ whose every check digit
/// passed is trusted (0.85 + 0.15 × Tesseract's confidence, less 0.01 per
/// repaired look-alike, at most 0.05: the check digits, not Tesseract's
/// word confidence, are what makes the fields right); a failing MRZ keeps Tesseract's confidence (so a
/// clear image is reported `mrz_invalide`, a poor one goes to review for
/// its confidence); the visual zone alone is capped at 0.6, below the
/// default threshold.
pub fn confidence(mrz: Option<&Mrz>, ocr: f64) -> f64 {
    let ocr = ocr.clamp(0.0, 1.0);
    let c = match mrz {
        Some(m) if m.checks.all() => 0.85 + 0.15 * ocr - 0.01 * m.repairs.min(5) as f64,
        Some(_) => ocr,
        None => 0.6 * ocr,
    };
    (c.clamp(0.0, 1.0) * 1000.0).round() / 1000.0
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// A candidate MRZ and the OCR confidence it was read with.
fn better(best: &mut Option<(Mrz, f64)>, found: Option<Mrz>, conf: f64) {
    let Some(m) = found else { return };
    let score = |m: &Mrz| {
        let c = m.checks;
        [c.document, c.birth, c.expiry, c.optional, c.composite]
            .iter()
            .filter(|&&b| b)
            .count()
    };
    if best.as_ref().is_none_or(|(b, _)| score(&m) > score(b)) {
        *best = Some((m, conf));
    }
}

/// Reads a document. `Err` only for a file that is not a readable image;
/// an OCR engine failure is `Err` of the outer result.
pub fn read(
    engines: &mut Engines,
    bytes: &[u8],
    max_bytes: u64,
) -> anyhow::Result<Result<Reading, Unreadable>> {
    let format = match input::sniff(bytes, bytes.len() as u64, max_bytes) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e.into())),
    };
    let grey = match prep::decode(bytes, format) {
        Ok(g) => g,
        Err(e) => return Ok(Err(e.into())),
    };
    read_image(engines, &grey, format).map(Ok)
}

/// Reads decoded pixels (KYC-3 order: deskew, greyscale, equalise, threshold).
pub fn read_image(
    engines: &mut Engines,
    grey: &GrayImage,
    format: Format,
) -> anyhow::Result<Reading> {
    let mut passes = Vec::new();
    let scaled = prep::working_scale(grey, WORKING_SIDE);
    let skew = prep::skew_degrees(&scaled, 10.0);
    let level = prep::rotate(&scaled, -skew);
    let equal = prep::equalise(&level);
    let radius = (equal.width() / 40).max(8);
    let binary = prep::adaptive_threshold(&equal, radius, 25);
    // A blurred copy too: JPEG blocks and sensor noise are not ink.
    let smooth = prep::adaptive_threshold(
        &imageproc::filter::gaussian_blur_f32(&equal, 1.0),
        radius,
        25,
    );
    let mut best: Option<(Mrz, f64)> = None;
    let valid = |best: &Option<(Mrz, f64)>| best.as_ref().is_some_and(|(m, _)| m.checks.all());

    // 1. The MRZ band: binarised, grey (Tesseract's own threshold), then
    //    binarised after a blur; the first with every check digit wins.
    let band = prep::mrz_band(&binary).or_else(|| prep::mrz_band(&smooth));
    if let Some(band) = band {
        for (img, name) in [
            (&binary, "mrz-band-binary"),
            (&level, "mrz-band-grey"),
            (&smooth, "mrz-band-smooth"),
        ] {
            passes.push(name);
            let t = engines.read_mrz(&prep::crop(img, band), Psm::Block)?;
            better(&mut best, mrz::find(&lines(&t.text)), t.confidence);
            if valid(&best) {
                break;
            }
        }
    }
    // 2. The whole image with the MRZ alphabet, when no band gave an MRZ.
    if best.is_none() {
        passes.push("mrz-whole");
        let t = engines.read_mrz(&smooth, Psm::Sparse)?;
        better(&mut best, mrz::find(&lines(&t.text)), t.confidence);
    }
    // 3. The visual zone: no MRZ, or a French card (expiry printed only).
    let needs_visual = match &best {
        None => true,
        Some((m, _)) => m.layout == Layout::FrenchId,
    };
    let mut vis = visual::Visual::default();
    let mut visual_conf = 0.0;
    if needs_visual {
        passes.push("visual");
        let t = engines.read_visual(&equal)?;
        vis = visual::read(&t.text);
        visual_conf = t.confidence;
    }
    let confidence = match &best {
        Some((m, conf)) => confidence(Some(m), *conf),
        None => confidence(None, visual_conf),
    };
    Ok(Reading {
        format,
        mrz: best.map(|(m, _)| m),
        visual: vis,
        confidence,
        passes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_trusts_checked_mrz_and_caps_the_visual_zone() {
        let lines = [
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        ];
        let m = mrz::find(&lines).unwrap();
        assert_eq!(confidence(Some(&m), 0.5), 0.925);
        assert_eq!(confidence(Some(&m), f64::NAN.max(0.0)), 0.85);
        let bad = mrz::find(&[lines[0], "L898902C36UTO7408132F1204159ZE184226B<<<<<10"]).unwrap();
        assert!(!bad.checks.all());
        assert_eq!(confidence(Some(&bad), 0.93), 0.93);
        assert!(confidence(None, 1.0) < 0.75);
        assert_eq!(confidence(None, 2.0), 0.6);
    }
}
