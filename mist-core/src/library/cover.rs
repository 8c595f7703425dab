//! Cover pictures: decoding under hard limits and the JPEG thumbnails MIST
//! serves (64, 300 and 600 px boxes).
//!
//! A cover comes from a file's tags, a `cover.jpg` beside it or an owner's
//! upload, so anyone can hand us one. A picture's header names its size and
//! a decoder allocates for it before reading a pixel: a 20,000 × 20,000 PNG
//! of one colour is a few hundred KB on disk and 400 MB to 1.6 GB in memory.
//! So, before any pixel is decoded: the input is at most [`MAX_COVER_BYTES`]
//! (lofty's own per-item limit, 16 MiB), each side at most [`MAX_COVER_SIDE`],
//! the area at most [`MAX_COVER_PIXELS`] (5,000 × 5,000: the largest covers
//! sold are 3,000–4,000 px square), and the decoded buffer at most
//! [`MAX_DECODE_BYTES`] (`image::Limits`, which also bounds the decoders'
//! own scratch). Measured peaks, decoding and making the three thumbnails:
//! about 170 MB for the worst accepted case (a 5,000² PNG with alpha), about
//! 40 MB for a usual 3,000² JPEG.
//!
//! Thumbnails keep the aspect ratio inside a square box, never enlarge, use
//! Lanczos3 (sharp, no ringing worth seeing at these ratios), are made from
//! the largest down so each step is cheap, and are baseline JPEG at quality
//! 85. Each also gets a lossless WebP of the same pixels (the `image` crate
//! encodes WebP losslessly only), kept only when it is smaller than the
//! JPEG: several times larger for photographs (a 300 px photo: 36 KB of
//! JPEG, 137 KB of WebP), about half for flat artwork (a 300 px test card:
//! 16 KB, 11 KB), so a client that takes WebP never gets more bytes for it.
//! Transparency is flattened
//! onto white. Nothing of the original's metadata (EXIF: camera, GPS) is
//! carried over; its orientation is applied first.
//!
//! Formats: JPEG, PNG, WebP and GIF (the first frame), the ones covers come in.

use std::io::{Cursor, Read};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};

use super::hash::ContentHash;

/// The largest picture accepted, in bytes.
pub const MAX_COVER_BYTES: usize = 16 * 1024 * 1024;
/// The largest width or height accepted.
pub const MAX_COVER_SIDE: u32 = 12_000;
/// The largest area accepted, in pixels.
pub const MAX_COVER_PIXELS: u64 = 25_000_000;
/// The most a decoder may allocate (the decoded image included).
pub const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;
/// The thumbnail boxes MIST serves, smallest first.
pub const SIZES: [u32; 3] = [64, 300, 600];
/// JPEG quality of the thumbnails.
const JPEG_QUALITY: u8 = 85;

/// Why a picture was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoverError {
    #[error("the picture is {bytes} bytes; at most {} are accepted", MAX_COVER_BYTES)]
    TooManyBytes { bytes: usize },
    #[error(
        "the picture is {width} × {height} pixels; at most {} pixels and {} on a side are accepted",
        MAX_COVER_PIXELS,
        MAX_COVER_SIDE
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error("the picture would need more than {} MiB to decode", MAX_DECODE_BYTES / 1024 / 1024)]
    TooMuchMemory,
    #[error("not a picture in a supported format (JPEG, PNG, WebP, GIF)")]
    NotAnImage,
    #[error("the picture is damaged: {0}")]
    Damaged(String),
    #[error("the thumbnail could not be encoded: {0}")]
    Encode(String),
    #[error("the picture could not be read: {0}")]
    Io(String),
}

/// The format a cover came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverFormat {
    Jpeg,
    Png,
    WebP,
    Gif,
}

impl CoverFormat {
    /// Its media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
            Self::Gif => "image/gif",
        }
    }

    /// Recognises a cover's format by content.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match image::guess_format(bytes).ok()? {
            ImageFormat::Jpeg => Some(Self::Jpeg),
            ImageFormat::Png => Some(Self::Png),
            ImageFormat::WebP => Some(Self::WebP),
            ImageFormat::Gif => Some(Self::Gif),
            _ => None,
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::WebP => ImageFormat::WebP,
            Self::Gif => ImageFormat::Gif,
        }
    }
}

/// A decoded cover: upright, opaque RGB.
pub struct Cover {
    /// SHA-256 of the original bytes: the same picture is stored once.
    pub hash: ContentHash,
    pub format: CoverFormat,
    image: RgbImage,
}

impl std::fmt::Debug for Cover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Cover({:?}, {}×{}, {})",
            self.format,
            self.width(),
            self.height(),
            self.hash
        )
    }
}

/// One served size of a cover.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The box it was made for (one of [`SIZES`], or what was asked).
    pub size: u32,
    pub width: u32,
    pub height: u32,
    /// Baseline JPEG.
    pub jpeg: Vec<u8>,
    /// The same pixels as lossless WebP, when that is smaller than `jpeg`.
    pub webp: Option<Vec<u8>>,
    /// SHA-256 of `jpeg`: its ETag.
    pub hash: ContentHash,
}

impl std::fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (size, w, h, bytes) = (self.size, self.width, self.height, self.jpeg.len());
        let webp = self.webp.as_ref().map_or(0, Vec::len);
        write!(
            f,
            "Thumbnail({size}: {w}×{h}, {bytes} bytes of JPEG, {webp} of WebP, {})",
            self.hash
        )
    }
}

impl Cover {
    /// Decodes a picture within the module's limits (checked in that order:
    /// bytes, format, sides and area from the header, decoder memory).
    pub fn decode(bytes: &[u8]) -> Result<Cover, CoverError> {
        if bytes.len() > MAX_COVER_BYTES {
            return Err(CoverError::TooManyBytes { bytes: bytes.len() });
        }
        let format = CoverFormat::sniff(bytes).ok_or(CoverError::NotAnImage)?;
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_COVER_SIDE);
        limits.max_image_height = Some(MAX_COVER_SIDE);
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
        reader.limits(limits);
        // Only the header is read here; the PNG decoder checks the sides
        // against the limits as it reads it.
        let mut decoder = reader.into_decoder().map_err(decode_error)?;
        let (width, height) = decoder.dimensions();
        if width == 0 || height == 0 {
            return Err(CoverError::Damaged("it has no pixels".into()));
        }
        if width > MAX_COVER_SIDE || height > MAX_COVER_SIDE || u64::from(width) * u64::from(height) > MAX_COVER_PIXELS
        {
            return Err(CoverError::TooManyPixels { width, height });
        }
        if decoder.total_bytes() > MAX_DECODE_BYTES {
            return Err(CoverError::TooMuchMemory);
        }
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
        image.apply_orientation(orientation);
        Ok(Cover {
            hash: ContentHash::of(bytes),
            format,
            image: flatten(image),
        })
    }

    /// Reads at most [`MAX_COVER_BYTES`] + 1 bytes from `reader` (a
    /// `cover.jpg` beside the music, an upload) and decodes them.
    pub fn decode_reader(reader: impl Read) -> Result<Cover, CoverError> {
        let mut bytes = Vec::new();
        reader
            .take(MAX_COVER_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| CoverError::Io(e.to_string()))?;
        Self::decode(&bytes)
    }

    pub fn width(&self) -> u32 {
        self.image.width()
    }

    pub fn height(&self) -> u32 {
        self.image.height()
    }

    /// A thumbnail fitting a `size` × `size` box (1 to [`MAX_COVER_SIDE`]).
    pub fn thumbnail(&self, size: u32) -> Result<Thumbnail, CoverError> {
        let size = size.clamp(1, MAX_COVER_SIDE);
        encode(size, &fit(&self.image, size))
    }

    /// The thumbnails for every box in [`SIZES`], smallest first; each is
    /// made from the next larger one.
    pub fn thumbnails(&self) -> Result<Vec<Thumbnail>, CoverError> {
        let mut out = Vec::with_capacity(SIZES.len());
        let mut source: Option<RgbImage> = None;
        for &size in SIZES.iter().rev() {
            let image = fit(source.as_ref().unwrap_or(&self.image), size);
            out.push(encode(size, &image)?);
            source = Some(image);
        }
        out.reverse();
        Ok(out)
    }
}

fn decode_error(e: ImageError) -> CoverError {
    match e {
        ImageError::Limits(_) => CoverError::TooMuchMemory,
        ImageError::Unsupported(_) => CoverError::NotAnImage,
        other => CoverError::Damaged(other.to_string()),
    }
}

/// Opaque RGB, transparency composited onto white.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (width, height) = rgba.dimensions();
    let pixels = rgba
        .pixels()
        .flat_map(|p| {
            let [r, g, b, a] = p.0;
            let over_white = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a)) + 127) / 255) as u8;
            [over_white(r), over_white(g), over_white(b)]
        })
        .collect();
    RgbImage::from_raw(width, height, pixels).unwrap_or_else(|| RgbImage::new(width, height))
}

/// `image` scaled to fit a `size` box, never enlarged.
fn fit(image: &RgbImage, size: u32) -> RgbImage {
    let (width, height) = image.dimensions();
    if width <= size && height <= size {
        return image.clone();
    }
    // Round the short side, never to zero: a 6000 × 10 strip still has a row.
    let scale = f64::from(size) / f64::from(width.max(height));
    let w = ((f64::from(width) * scale).round() as u32).clamp(1, size);
    let h = ((f64::from(height) * scale).round() as u32).clamp(1, size);
    image::imageops::resize(image, w, h, FilterType::Lanczos3)
}

fn encode(size: u32, image: &RgbImage) -> Result<Thumbnail, CoverError> {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(image)
        .map_err(|e| CoverError::Encode(e.to_string()))?;
    let mut webp = Vec::new();
    WebPEncoder::new_lossless(&mut webp)
        .encode(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)
        .map_err(|e| CoverError::Encode(e.to_string()))?;
    Ok(Thumbnail {
        size,
        width: image.width(),
        height: image.height(),
        hash: ContentHash::of(&jpeg),
        webp: (webp.len() < jpeg.len()).then_some(webp),
        jpeg,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use image::{Rgb, Rgba, RgbaImage};

    use super::*;
    use crate::library::test_support::{child_case, ffmpeg, peak_rss_kb, report_field, run_child};

    fn png_bytes(image: &DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .expect("png");
        out
    }

    fn jpeg_bytes(image: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(image)
            .expect("jpeg");
        out
    }

    /// A gradient, so resampling has something to do.
    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        })
    }

    /// A one-bit grey PNG of `width` × `height`, all black: a few KB to a few
    /// hundred KB of file, `width × height` bytes once decoded to 8-bit grey.
    fn bilevel_png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().expect("header");
        let mut stream = writer.stream_writer().expect("stream");
        let row = vec![0u8; (width as usize).div_ceil(8)];
        for _ in 0..height {
            stream.write_all(&row).expect("row");
        }
        stream.finish().expect("finish");
        drop(writer);
        out
    }

    /// Run in a child process by `a_png_bomb_is_refused_without_a_memory_spike`
    /// (alone, so its peak memory is its own): decodes the bomb and reports
    /// the peak memory before and after.
    #[test]
    #[ignore = "run by a_png_bomb_is_refused_without_a_memory_spike in its own process"]
    fn png_bomb_child() {
        let Some(side) = child_case() else { return };
        let side: u32 = side.parse().expect("a side");
        let bomb = bilevel_png(side, side);
        let before = peak_rss_kb();
        let result = Cover::decode(&bomb);
        let after = peak_rss_kb();
        println!(
            "REPORT bytes={} before_kb={before} after_kb={after} result={result:?}",
            bomb.len()
        );
    }

    #[test]
    fn a_png_bomb_is_refused_without_a_memory_spike() {
        // 20,000² (refused by side) and 6,000² (36 Mpx, refused by area): each
        // would decode to 400 MB or 36 MB of grey, more once converted to RGB.
        for (side, expected) in [
            (20_000u32, "TooMuchMemory"), // the PNG decoder's own side check, from `Limits`
            (6_000, "TooManyPixels"),
        ] {
            let (clean_exit, report) = run_child("library::cover::tests::png_bomb_child", &side.to_string());
            let report = report.unwrap_or_else(|| panic!("{side}: the child crashed"));
            assert!(clean_exit, "{report}");
            assert!(report.contains(expected), "{side}: {report}");
            assert!(
                report_field(&report, "bytes") < 2 * 1024 * 1024,
                "the bomb is small on disk: {report}"
            );
            // The decoded image alone would be ≥ 36 MB; refusing must cost
            // a tiny fraction of that.
            let grew_kb = report_field(&report, "after_kb").saturating_sub(report_field(&report, "before_kb"));
            assert!(grew_kb < 8 * 1024, "{side}²: peak memory grew {grew_kb} kB: {report}");
        }
    }

    #[test]
    fn limits_are_checked_before_decoding() {
        // Too many bytes: refused without looking, and a reader is not read past the limit.
        let endless = std::io::repeat(0xFF);
        let refused = CoverError::TooManyBytes {
            bytes: MAX_COVER_BYTES + 1,
        };
        assert_eq!(Cover::decode_reader(endless).unwrap_err(), refused);
        let big = vec![0u8; MAX_COVER_BYTES + 1];
        assert_eq!(
            Cover::decode(&big).unwrap_err(),
            CoverError::TooManyBytes {
                bytes: MAX_COVER_BYTES + 1
            }
        );
        // Not a picture, or a format we do not take.
        assert_eq!(Cover::decode(b"hello").unwrap_err(), CoverError::NotAnImage);
        assert_eq!(Cover::decode(b"").unwrap_err(), CoverError::NotAnImage);
        assert_eq!(
            Cover::decode(b"BM\x00\x00\x00\x00").unwrap_err(),
            CoverError::NotAnImage
        );
        // A long thin strip within the sides but over the area.
        let strip = bilevel_png(MAX_COVER_SIDE, 2_500);
        assert_eq!(
            Cover::decode(&strip).unwrap_err(),
            CoverError::TooManyPixels {
                width: 12_000,
                height: 2_500
            }
        );
        // Truncated and corrupted files are damaged, not panics.
        let good = jpeg_bytes(&gradient(200, 100));
        // (A JPEG cut later decodes with the rest grey: lenient, and harmless.)
        for cut in [10, 100, 400] {
            let result = Cover::decode(&good[..cut]);
            assert!(
                matches!(result, Err(CoverError::Damaged(_))),
                "cut at {cut}: {result:?}"
            );
        }
        let png = png_bytes(&DynamicImage::ImageRgb8(gradient(50, 50)));
        let mut corrupt = png.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid..mid + 20].fill(0xAA);
        assert!(matches!(Cover::decode(&corrupt), Err(CoverError::Damaged(_))));
    }

    #[test]
    fn webp_is_kept_only_when_smaller_and_holds_the_same_picture() {
        // Flat artwork (four blocks of colour): lossless WebP wins.
        let flat = RgbImage::from_fn(800, 800, |x, y| match (x < 400, y < 400) {
            (true, true) => Rgb([200, 30, 30]),
            (false, true) => Rgb([30, 200, 30]),
            (true, false) => Rgb([30, 30, 200]),
            (false, false) => Rgb([240, 240, 240]),
        });
        let cover = Cover::decode(&png_bytes(&DynamicImage::ImageRgb8(flat))).expect("decodes");
        for t in cover.thumbnails().expect("thumbnails") {
            let webp = t
                .webp
                .as_ref()
                .unwrap_or_else(|| panic!("{t:?}: flat art is smaller as WebP"));
            assert!(webp.len() < t.jpeg.len(), "{t:?}");
            let back = image::load_from_memory_with_format(webp, ImageFormat::WebP).expect("a WebP");
            assert_eq!((back.width(), back.height()), (t.width, t.height));
            assert_eq!(back.to_rgb8().get_pixel(1, 1).0, [200, 30, 30], "lossless");
        }
        // Noise, like a photograph's grain: the JPEG alone.
        let mut seed = 1u32;
        let noise = RgbImage::from_fn(600, 600, |_, _| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let [a, b, c, _] = seed.to_le_bytes();
            Rgb([a, b, c])
        });
        let cover = Cover::decode(&png_bytes(&DynamicImage::ImageRgb8(noise))).expect("decodes");
        for t in cover.thumbnails().expect("thumbnails") {
            assert!(t.webp.is_none(), "{t:?}");
        }
    }

    #[test]
    fn thumbnails_keep_aspect_and_never_enlarge() {
        let cover = Cover::decode(&jpeg_bytes(&gradient(1200, 800))).expect("decodes");
        assert_eq!(
            (cover.width(), cover.height(), cover.format),
            (1200, 800, CoverFormat::Jpeg)
        );
        let thumbs = cover.thumbnails().expect("thumbnails");
        let dims: Vec<_> = thumbs.iter().map(|t| (t.size, t.width, t.height)).collect();
        assert_eq!(dims, vec![(64, 64, 43), (300, 300, 200), (600, 600, 400)]);
        for t in &thumbs {
            let back = image::load_from_memory_with_format(&t.jpeg, ImageFormat::Jpeg).expect("a JPEG");
            assert_eq!((back.width(), back.height()), (t.width, t.height));
            assert_eq!(t.hash, ContentHash::of(&t.jpeg));
            // The gradient survives: left is dark red, right is bright red.
            let rgb = back.to_rgb8();
            let (left, right) = (
                rgb.get_pixel(1, t.height / 2)[0],
                rgb.get_pixel(t.width - 2, t.height / 2)[0],
            );
            assert!(left < 30 && right > 220, "{}: {left} {right}", t.size);
        }
        // Deterministic: the same cover gives the same bytes (stable ETags).
        assert_eq!(cover.thumbnails().expect("thumbnails"), thumbs);
        assert_eq!(
            cover.thumbnail(300).expect("thumb"),
            cover.thumbnail(300).expect("thumb")
        );

        // A small cover is not enlarged; a tall one fits by its height.
        let small = Cover::decode(&png_bytes(&DynamicImage::ImageRgb8(gradient(100, 40)))).expect("decodes");
        let dims: Vec<_> = small
            .thumbnails()
            .expect("thumbs")
            .iter()
            .map(|t| (t.width, t.height))
            .collect();
        assert_eq!(dims, vec![(64, 26), (100, 40), (100, 40)]);
        let strip = Cover::decode(&png_bytes(&DynamicImage::ImageRgb8(gradient(10, 3000)))).expect("decodes");
        assert_eq!(strip.thumbnail(64).map(|t| (t.width, t.height)), Ok((1, 64)));
        assert_eq!(strip.thumbnail(0).map(|t| (t.width, t.height)), Ok((1, 1)));
    }

    #[test]
    fn same_bytes_same_hash() {
        let bytes = jpeg_bytes(&gradient(64, 64));
        let (a, b) = (Cover::decode(&bytes).expect("a"), Cover::decode(&bytes).expect("b"));
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.hash, ContentHash::of(&bytes));
        let other = Cover::decode(&jpeg_bytes(&gradient(64, 65))).expect("c");
        assert_ne!(a.hash, other.hash);
    }

    #[test]
    fn transparency_is_flattened_onto_white() {
        let mut rgba = RgbaImage::from_pixel(20, 20, Rgba([0, 0, 0, 0]));
        rgba.put_pixel(0, 0, Rgba([255, 0, 0, 255]));
        rgba.put_pixel(1, 0, Rgba([0, 0, 0, 128]));
        let cover = Cover::decode(&png_bytes(&DynamicImage::ImageRgba8(rgba))).expect("decodes");
        assert_eq!(cover.image.get_pixel(0, 0), &Rgb([255, 0, 0]));
        assert_eq!(cover.image.get_pixel(1, 0), &Rgb([127, 127, 127]));
        assert_eq!(cover.image.get_pixel(5, 5), &Rgb([255, 255, 255]));
    }

    #[test]
    fn every_format_and_exif_orientation() {
        let dir = tempfile::tempdir().expect("temp dir");
        // ffmpeg writes the formats; `testsrc` has distinct corners.
        for (name, extra, format) in [
            ("c.jpg", vec![], CoverFormat::Jpeg),
            ("c.png", vec![], CoverFormat::Png),
            ("c.webp", vec!["-c:v", "libwebp"], CoverFormat::WebP),
            ("c.gif", vec![], CoverFormat::Gif),
        ] {
            let path = dir.path().join(name);
            let mut args = vec!["-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1"];
            args.extend(extra);
            ffmpeg(&args, &path);
            let bytes = std::fs::read(&path).expect("read");
            let cover = Cover::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                (cover.format, cover.width(), cover.height()),
                (format, 320, 240),
                "{name}"
            );
            assert_eq!(cover.thumbnail(64).expect("thumb").width, 64);
        }

        // An EXIF orientation of 6 (rotate 90° clockwise) turns 40 × 20 into 20 × 40.
        let jpeg = jpeg_bytes(&gradient(40, 20));
        let rotated = with_exif_orientation(&jpeg, 6);
        let cover = Cover::decode(&rotated).expect("decodes");
        assert_eq!((cover.width(), cover.height()), (20, 40));
        // The image's left edge (dark) is now its top.
        assert!(cover.image.get_pixel(10, 0)[0] < 40 && cover.image.get_pixel(10, 39)[0] > 200);
    }

    /// `jpeg` with an APP1 EXIF segment holding only an Orientation tag.
    fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"II*\x00\x08\x00\x00\x00".to_vec(); // little-endian, IFD at 8
        tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_le_bytes()); // count
        tiff.extend_from_slice(&orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        let mut app1 = b"Exif\x00\x00".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec(); // SOI
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }
}
