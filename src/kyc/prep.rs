//! Image preprocessing before OCR (KYC-3), pure and in memory: decoding with
//! limits, working scale, deskew from detected edges, greyscale, histogram
//! equalisation, adaptive threshold, and the location of the MRZ band.

use image::{GrayImage, Luma};

use super::input::Format;

/// Decoding limits: a small file must not expand into gigabytes.
pub const MAX_PIXELS_SIDE: u32 = 12_000;
const MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// Why a document could not be turned into pixels (no content quoted).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the {0} file could not be decoded: {1}")]
    Image(&'static str, String),
    #[error("the PDF has no embedded raster image on its first page (vector-only PDFs are not supported)")]
    PdfWithoutImage,
}

/// Decodes the document to greyscale (the first embedded image of a PDF).
pub fn decode(bytes: &[u8], format: Format) -> Result<GrayImage, DecodeError> {
    let (bytes, fmt, name) = match format {
        Format::Jpeg => (bytes, image::ImageFormat::Jpeg, "JPEG"),
        Format::Png => (bytes, image::ImageFormat::Png, "PNG"),
        Format::Tiff => (bytes, image::ImageFormat::Tiff, "TIFF"),
        Format::Webp => (bytes, image::ImageFormat::WebP, "WebP"),
        Format::Pdf => return pdf_first_image(bytes),
    };
    decode_as(bytes, fmt, name)
}

fn decode_as(
    bytes: &[u8],
    fmt: image::ImageFormat,
    name: &'static str,
) -> Result<GrayImage, DecodeError> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PIXELS_SIDE);
    limits.max_image_height = Some(MAX_PIXELS_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), fmt);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| DecodeError::Image(name, e.to_string()))?;
    Ok(img.to_luma8())
}

/// The first image XObject of a PDF: JPEG (`DCTDecode`) or 8-bit grey/RGB
/// (`FlateDecode`). Scanners and phones write PDFs this way.
fn pdf_first_image(pdf: &[u8]) -> Result<GrayImage, DecodeError> {
    let mut from = 0;
    while let Some(at) = find(&pdf[from..], b"/Subtype") {
        let dict_at = from + at;
        from = dict_at + 8;
        let rest = &pdf[from..];
        let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
        if !rest.starts_with(b"/Image") {
            continue;
        }
        // The dictionary around it, and its stream.
        let start = rfind(&pdf[..dict_at], b"<<").unwrap_or(0);
        let Some(s) = find(&pdf[dict_at..], b"stream") else {
            break;
        };
        let dict = &pdf[start..dict_at + s];
        let mut data_at = dict_at + s + 6;
        if pdf.get(data_at) == Some(&b'\r') {
            data_at += 1;
        }
        if pdf.get(data_at) == Some(&b'\n') {
            data_at += 1;
        }
        let end = find(&pdf[data_at..], b"endstream")
            .map(|e| data_at + e)
            .ok_or(DecodeError::PdfWithoutImage)?;
        let data = &pdf[data_at..end];
        if find(dict, b"/DCTDecode").is_some() {
            return decode_as(data, image::ImageFormat::Jpeg, "PDF's JPEG");
        }
        if find(dict, b"/FlateDecode").is_some() {
            let number = |key: &[u8]| -> Option<u32> {
                let at = find(dict, key)? + key.len();
                let digits: String = dict[at..]
                    .iter()
                    .skip_while(|b| b.is_ascii_whitespace())
                    .take_while(|b| b.is_ascii_digit())
                    .map(|&b| char::from(b))
                    .collect();
                digits.parse().ok()
            };
            let (Some(w), Some(h)) = (number(b"/Width"), number(b"/Height")) else {
                continue;
            };
            if w > MAX_PIXELS_SIDE || h > MAX_PIXELS_SIDE || number(b"/BitsPerComponent") != Some(8)
            {
                continue;
            }
            let channels = if find(dict, b"/DeviceRGB").is_some() {
                3
            } else if find(dict, b"/DeviceGray").is_some() {
                1
            } else {
                continue;
            };
            let want = (w as usize) * (h as usize) * channels;
            let mut raw = Vec::with_capacity(want);
            use std::io::Read;
            let mut z = flate2::read::ZlibDecoder::new(data).take(want as u64);
            if z.read_to_end(&mut raw).is_err() || raw.len() != want {
                return Err(DecodeError::Image("PDF's image", "truncated stream".into()));
            }
            let grey: Vec<u8> = if channels == 1 {
                raw
            } else {
                raw.chunks_exact(3)
                    .map(|p| luma(p[0], p[1], p[2]))
                    .collect()
            };
            return GrayImage::from_raw(w, h, grey)
                .ok_or(DecodeError::Image("PDF's image", "bad dimensions".into()));
        }
    }
    Err(DecodeError::PdfWithoutImage)
}

fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000) as u8
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    memchr::memmem::find(h, n)
}

fn rfind(h: &[u8], n: &[u8]) -> Option<usize> {
    memchr::memmem::rfind(h, n)
}

/// Resizes so the longer side is `target` pixels (small images upscaled).
pub fn working_scale(img: &GrayImage, target: u32) -> GrayImage {
    let long = img.width().max(img.height()).max(1);
    if long.abs_diff(target) * 10 < target {
        return img.clone();
    }
    let f = target as f32 / long as f32;
    let (w, h) = (
        ((img.width() as f32 * f) as u32).max(1),
        ((img.height() as f32 * f) as u32).max(1),
    );
    let filter = if f > 1.0 {
        image::imageops::FilterType::CatmullRom
    } else {
        image::imageops::FilterType::Triangle
    };
    image::imageops::resize(img, w, h, filter)
}

/// The skew of the text, in degrees (counter-clockwise positive), found from
/// the image's edges: the angle whose projection of edge points on the
/// vertical axis is the most peaked (text lines and card borders give sharp
/// peaks only when level). Searched within ±`max_deg`.
pub fn skew_degrees(img: &GrayImage, max_deg: f32) -> f32 {
    // Work on a small copy: the angle does not need full resolution.
    let small = working_scale(img, 700);
    let (w, h) = small.dimensions();
    let mut points = Vec::new();
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let p = |dx: i32, dy: i32| {
                i32::from(small.get_pixel((x as i32 + dx) as u32, (y as i32 + dy) as u32)[0])
            };
            // Vertical gradient: horizontal edges (text baselines, borders).
            let gy = p(-1, 1) + 2 * p(0, 1) + p(1, 1) - p(-1, -1) - 2 * p(0, -1) - p(1, -1);
            let gx = p(1, -1) + 2 * p(1, 0) + p(1, 1) - p(-1, -1) - 2 * p(-1, 0) - p(-1, 1);
            if gy.abs() > 160 && gy.abs() > gx.abs() {
                points.push((x as f32 - w as f32 / 2.0, y as f32 - h as f32 / 2.0));
            }
        }
    }
    if points.len() < 50 {
        return 0.0;
    }
    let score = |deg: f32| {
        let (s, c) = deg.to_radians().sin_cos();
        let bins = (h as usize) * 2 + 4;
        let mut hist = vec![0u32; bins];
        for &(x, y) in &points {
            let yr = x * s + y * c + h as f32;
            let i = yr.max(0.0) as usize;
            if i < bins {
                hist[i] += 1;
            }
        }
        hist.iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
    };
    let mut best = (0.0f32, score(0.0));
    let mut step = 1.0f32;
    let mut lo = -max_deg;
    let mut hi = max_deg;
    for _ in 0..3 {
        let mut a = lo;
        while a <= hi + 1e-3 {
            let s = score(a);
            if s > best.1 * 1.000_001 {
                best = (a, s);
            }
            a += step;
        }
        lo = best.0 - step;
        hi = best.0 + step;
        step /= 4.0;
    }
    // Points rotated by +a become level.
    best.0
}

/// Rotates by `deg` degrees (counter-clockwise positive), filling with white.
pub fn rotate(img: &GrayImage, deg: f32) -> GrayImage {
    if deg.abs() < 0.1 {
        return img.clone();
    }
    imageproc::geometric_transformations::rotate_about_center(
        img,
        -deg.to_radians(),
        imageproc::geometric_transformations::Interpolation::Bilinear,
        Luma([255]),
    )
}

/// Contrast-limited histogram equalisation: each grey level's share of the
/// mapping is capped at `clip` times the average, the excess spread evenly.
/// Plain equalisation gives the paper, most of the pixels, most of the
/// range and turns its faint security print into ink; the cap keeps the
/// paper light while a washed-out or dark photo is still stretched.
pub fn equalise(img: &GrayImage) -> GrayImage {
    let mut hist = [0f64; 256];
    for p in img.pixels() {
        hist[usize::from(p[0])] += 1.0;
    }
    let n = (img.width() as f64) * (img.height() as f64);
    if n == 0.0 {
        return img.clone();
    }
    let limit = 3.0 * n / 256.0;
    let excess: f64 = hist.iter().map(|&h| (h - limit).max(0.0)).sum();
    let mut map = [0u8; 256];
    let mut cum = 0.0;
    for (i, h) in hist.iter().enumerate() {
        cum += h.min(limit) + excess / 256.0;
        map[i] = ((cum / n) * 255.0).round().clamp(0.0, 255.0) as u8;
    }
    let mut out = img.clone();
    for p in out.pixels_mut() {
        p[0] = map[usize::from(p[0])];
    }
    out
}

/// Adaptive (local mean) threshold: a pixel is ink when darker than the
/// mean of its `radius` neighbourhood by more than `offset`.
pub fn adaptive_threshold(img: &GrayImage, radius: u32, offset: i32) -> GrayImage {
    let (w, h) = img.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    let mut integral = vec![0u64; (wu + 1) * (hu + 1)];
    for y in 0..hu {
        let mut row = 0u64;
        for x in 0..wu {
            row += u64::from(img.get_pixel(x as u32, y as u32)[0]);
            integral[(y + 1) * (wu + 1) + x + 1] = integral[y * (wu + 1) + x + 1] + row;
        }
    }
    let r = radius as usize;
    let mut out = GrayImage::new(w, h);
    for y in 0..hu {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(hu));
        for x in 0..wu {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(wu));
            let sum = integral[y1 * (wu + 1) + x1] + integral[y0 * (wu + 1) + x0]
                - integral[y0 * (wu + 1) + x1]
                - integral[y1 * (wu + 1) + x0];
            let n = ((x1 - x0) * (y1 - y0)) as i64;
            let v = i64::from(img.get_pixel(x as u32, y as u32)[0]);
            let ink = v * n < (sum as i64) - i64::from(offset) * n;
            out.put_pixel(x as u32, y as u32, Luma([if ink { 0 } else { 255 }]));
        }
    }
    out
}

/// A horizontal band of the image (rows `top..bottom`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    pub top: u32,
    pub bottom: u32,
    pub left: u32,
    pub right: u32,
}

/// Text lines of a binary image (ink = 0): runs of rows with ink, with the
/// number of ink runs across (characters give many, a photo few).
fn text_lines(bin: &GrayImage) -> Vec<(Band, u32)> {
    let (w, h) = bin.dimensions();
    let mut rows = Vec::with_capacity(h as usize);
    for y in 0..h {
        let (mut runs, mut ink, mut prev) = (0u32, 0u32, false);
        let (mut left, mut right) = (w, 0);
        for x in 0..w {
            let is = bin.get_pixel(x, y)[0] == 0;
            if is {
                ink += 1;
                left = left.min(x);
                right = x;
                if !prev {
                    runs += 1;
                }
            }
            prev = is;
        }
        rows.push((runs, ink, left, right));
    }
    let mut lines = Vec::new();
    let mut y = 0;
    while y < h as usize {
        if rows[y].0 < 8 {
            y += 1;
            continue;
        }
        let top = y;
        let (mut left, mut right, mut runs) = (w, 0, 0);
        while y < h as usize && rows[y].0 >= 8 {
            left = left.min(rows[y].2);
            right = right.max(rows[y].3);
            runs = runs.max(rows[y].0);
            y += 1;
        }
        lines.push((
            Band {
                top: top as u32,
                bottom: y as u32,
                left,
                right,
            },
            runs,
        ));
    }
    lines
}

/// The machine-readable zone: the lowest group of two or three text lines of
/// similar height with many characters (≥ 20 ink runs) across a wide part of
/// the image. Returned with a margin, `None` when nothing looks like one.
pub fn mrz_band(bin: &GrayImage) -> Option<Band> {
    let (w, h) = bin.dimensions();
    let lines: Vec<(Band, u32)> = text_lines(bin)
        .into_iter()
        .filter(|(b, runs)| {
            let lh = b.bottom - b.top;
            *runs >= 20 && lh >= 6 && lh < h / 6 && (b.right - b.left) > w / 3
        })
        .collect();
    // From the bottom up: the last line, and the ones just above it of similar height.
    for end in (0..lines.len()).rev() {
        let (last, _) = lines[end];
        let lh = (last.bottom - last.top) as f32;
        let mut group = vec![last];
        for i in (0..end).rev() {
            let (b, _) = lines[i];
            let bh = (b.bottom - b.top) as f32;
            let gap = group[group.len() - 1].top.saturating_sub(b.bottom) as f32;
            if (bh - lh).abs() > lh * 0.5 || gap > lh * 1.6 || group.len() == 3 {
                break;
            }
            group.push(b);
        }
        if group.len() >= 2 {
            let top = group.iter().map(|b| b.top).min()?;
            let bottom = group.iter().map(|b| b.bottom).max()?;
            let left = group.iter().map(|b| b.left).min()?;
            let right = group.iter().map(|b| b.right).max()?;
            let m = (lh * 0.8) as u32;
            return Some(Band {
                top: top.saturating_sub(m),
                bottom: (bottom + m).min(h),
                left: left.saturating_sub(m * 2),
                right: (right + m * 2).min(w),
            });
        }
    }
    None
}

/// Crops a band.
pub fn crop(img: &GrayImage, b: Band) -> GrayImage {
    image::imageops::crop_imm(img, b.left, b.top, b.right - b.left, b.bottom - b.top).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_image(skew: f32) -> GrayImage {
        let mut img = GrayImage::from_pixel(800, 500, Luma([230]));
        for line in 0..5 {
            let y = 100 + line * 30;
            for x in (60..740).step_by(14) {
                for dy in 0..20 {
                    for dx in 0..8 {
                        img.put_pixel(x + dx, y + dy, Luma([20]));
                    }
                }
            }
        }
        rotate(&img, skew)
    }

    #[test]
    fn the_skew_of_text_lines_is_found_within_half_a_degree() {
        for skew in [-8.0f32, -3.0, 0.0, 2.5, 7.0] {
            let found = skew_degrees(&lines_image(skew), 10.0);
            assert!((found - skew).abs() < 0.5, "skew {skew}: found {found}");
        }
    }

    #[test]
    fn the_mrz_band_is_the_lowest_group_of_dense_lines() {
        let img = lines_image(0.0);
        let bin = adaptive_threshold(&img, 20, 10);
        let b = mrz_band(&bin).expect("a band");
        // The last three lines: y 160..240, with a margin.
        assert!(b.top >= 130 && b.top <= 162, "{b:?}");
        assert!(b.bottom >= 238 && b.bottom <= 270, "{b:?}");
    }

    #[test]
    fn a_blank_image_has_no_band_and_no_skew() {
        let img = GrayImage::from_pixel(300, 200, Luma([200]));
        assert_eq!(skew_degrees(&img, 10.0), 0.0);
        assert_eq!(mrz_band(&adaptive_threshold(&img, 15, 10)), None);
    }

    #[test]
    fn pdfs_give_their_first_embedded_image_or_a_clear_refusal() {
        // A PDF wrapping a 2×1 grey Flate image.
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&[10, 200]).unwrap();
        let data = z.finish().unwrap();
        let mut pdf = b"%PDF-1.4\n1 0 obj << /Type /XObject /Subtype /Image /Width 2 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length 10 >>\nstream\n".to_vec();
        pdf.extend(&data);
        pdf.extend(b"\nendstream\nendobj\n%%EOF\n");
        let img = decode(&pdf, Format::Pdf).unwrap();
        assert_eq!(img.as_raw(), &vec![10, 200]);
        let vector = b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF\n";
        assert!(matches!(
            decode(vector, Format::Pdf),
            Err(DecodeError::PdfWithoutImage)
        ));
        assert!(decode(b"\xff\xd8\xff\xe0garbage", Format::Jpeg).is_err());
    }

    #[test]
    fn fuzzed_pdfs_give_an_image_or_an_error_never_a_panic() {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&[10, 200, 30, 40, 50, 60]).unwrap();
        let data = z.finish().unwrap();
        let mut pdf = b"%PDF-1.4\n1 0 obj << /Subtype /Image /Width 3 /Height 2 /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend(&data);
        pdf.extend(b"\nendstream\nendobj\n");
        let mut rgb = b"%PDF-1.4\n<< /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode >>\nstream\n\xff\xd8\xff\xe0\0\x10JFIF\nendstream\n".to_vec();
        rgb.extend(b"%%EOF");
        let corpus: [&[u8]; 2] = [&pdf, &rgb];
        let cases = crate::fuzz::cases().min(200_000);
        let mut m = crate::fuzz::Mutator::new(29, &corpus);
        for _ in 0..cases {
            let input = m.input();
            if let Ok(img) = decode(&input, Format::Pdf) {
                assert!(img.width() <= MAX_PIXELS_SIDE && img.height() <= MAX_PIXELS_SIDE);
            }
        }
    }
}
