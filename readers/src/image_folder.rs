//! A folder of images sorted by class, torchvision's `ImageFolder` layout:
//! `root/<class>/<image>.png|jpg|jpeg`. Classes are the sub-folders sorted
//! by name (class `i` is the `i`-th), samples go class by class with their
//! files sorted by name, as torchvision orders them. Images are gray or RGB
//! bytes (max 255); all take the first image's size unless a size is given,
//! to which each is resized (bilinear, `image`'s `Triangle` filter). Files of
//! other extensions are skipped, as torchvision skips them; a class folder
//! without an image, or an image that does not decode, is refused by name.

use std::path::{Path, PathBuf};

use image::{imageops::FilterType, DynamicImage};

use crate::{Dataset, ReadError, Values};

/// Gray, RGB, or gray when every image is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Color {
    #[default]
    Auto,
    Gray,
    Rgb,
}

/// How to read the folder.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImageOptions {
    /// Resize every image to `(height, width)`; without it, every image
    /// must have the first one's size.
    pub size: Option<(u32, u32)>,
    pub color: Color,
}

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn sorted(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ReadError::new(dir, e.to_string()))?
        .map(|e| {
            e.map(|e| e.path())
                .map_err(|e| ReadError::new(dir, e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    out.sort();
    Ok(out)
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Decodes one image's bytes (`file` is named in errors).
pub fn decode(file: &Path, bytes: &[u8]) -> Result<DynamicImage, ReadError> {
    image::load_from_memory(bytes)
        .map_err(|e| ReadError::new(file, format!("not a readable PNG or JPEG image ({e})")))
}

/// Reads `root`.
pub fn read_image_folder(root: &Path, options: &ImageOptions) -> Result<Dataset, ReadError> {
    let classes: Vec<PathBuf> = sorted(root)?.into_iter().filter(|p| p.is_dir()).collect();
    if classes.is_empty() {
        return Err(ReadError::new(
            root,
            "no class folders (root/<class>/<image>.png)",
        ));
    }
    if classes.len() > 256 {
        return Err(ReadError::new(
            root,
            format!("{} class folders; at most 256", classes.len()),
        ));
    }
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let images: Vec<PathBuf> = sorted(class)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if images.is_empty() {
            return Err(ReadError::new(
                class,
                "an empty class folder (no .png, .jpg or .jpeg file)",
            ));
        }
        files.extend(images.into_iter().map(|p| (p, label as u8)));
    }
    let decoded: Vec<DynamicImage> = files
        .iter()
        .map(|(p, _)| decode(p, &crate::read_file(p)?))
        .collect::<Result<_, _>>()?;
    let rgb = match options.color {
        Color::Gray => false,
        Color::Rgb => true,
        Color::Auto => decoded.iter().any(|i| i.color().has_color()),
    };
    let (h, w) = options
        .size
        .unwrap_or_else(|| (decoded[0].height(), decoded[0].width()));
    if h == 0 || w == 0 {
        return Err(ReadError::new(root, "images of no pixels"));
    }
    let channels = if rgb { 3 } else { 1 };
    let plane = (h * w) as usize;
    let mut data = Vec::with_capacity(files.len() * channels * plane);
    for ((path, _), img) in files.iter().zip(decoded) {
        let img = if (img.height(), img.width()) == (h, w) {
            img
        } else if options.size.is_some() {
            img.resize_exact(w, h, FilterType::Triangle)
        } else {
            return Err(ReadError::new(
                path,
                format!(
                    "{}x{} pixels where {} has {h}x{w}: give data.size = [height, width] to resize them all",
                    img.height(),
                    img.width(),
                    files[0].0.display()
                ),
            ));
        };
        if rgb {
            let px = img.to_rgb8();
            for c in 0..3 {
                data.extend(px.pixels().map(|p| p.0[c]));
            }
        } else {
            data.extend_from_slice(img.to_luma8().as_raw());
        }
    }
    Ok(Dataset {
        channels,
        height: h as usize,
        width: w as usize,
        classes: classes.len(),
        values: Values::U8 {
            data,
            max_value: 255,
        },
        labels: files.iter().map(|(_, l)| *l).collect(),
        class_names: classes
            .iter()
            .map(|c| {
                c.file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned())
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tinyreg-images-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn png(path: &Path, w: u32, h: u32, rgb: bool, seed: u8) {
        if rgb {
            image::RgbImage::from_fn(w, h, |x, y| image::Rgb([seed, x as u8 * 10, y as u8 * 20]))
                .save(path)
                .unwrap();
        } else {
            image::GrayImage::from_fn(w, h, |x, y| {
                image::Luma([seed.wrapping_add((x + 3 * y) as u8)])
            })
            .save(path)
            .unwrap();
        }
    }

    #[test]
    fn image_folder_reads_classes_in_name_order_gray_or_rgb() {
        let root = scratch("ok");
        for (class, n) in [("cat", 2), ("ant", 1)] {
            std::fs::create_dir_all(root.join(class)).unwrap();
            for i in 0..n {
                png(
                    &root.join(class).join(format!("{i}.png")),
                    3,
                    2,
                    false,
                    10 * i as u8,
                );
            }
        }
        std::fs::write(root.join("cat/notes.txt"), "skipped").unwrap();
        let d = read_image_folder(&root, &ImageOptions::default()).unwrap();
        assert_eq!(d.class_names, ["ant", "cat"]);
        assert_eq!(d.labels, [0, 1, 1]);
        assert_eq!((d.channels, d.height, d.width, d.classes), (1, 2, 3, 2));
        let Values::U8 { data, max_value } = &d.values else {
            panic!()
        };
        assert_eq!((data.len(), *max_value), (18, 255));
        assert_eq!(&data[6..12], &[0, 1, 2, 3, 4, 5], "cat/0.png, row-major");
        // A colour image makes the set RGB (CHW planes).
        png(&root.join("ant/1.png"), 3, 2, true, 7);
        let d = read_image_folder(&root, &ImageOptions::default()).unwrap();
        assert_eq!(d.channels, 3);
        let Values::U8 { data, .. } = &d.values else {
            panic!()
        };
        assert_eq!(&data[18..24], &[7; 6], "ant/1.png's red plane");
        // Other sizes: refused, or resized when asked.
        png(&root.join("cat/2.png"), 5, 5, false, 0);
        let e = read_image_folder(&root, &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cat/2.png: 5x5 pixels where") && e.contains("data.size"),
            "{e}"
        );
        let resized = ImageOptions {
            size: Some((4, 4)),
            color: Color::Gray,
        };
        let d = read_image_folder(&root, &resized).unwrap();
        assert_eq!((d.channels, d.height, d.width, d.count()), (1, 4, 4, 5));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn image_folder_refuses_empty_classes_and_broken_images_by_name() {
        let root = scratch("bad");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(root.join("b")).unwrap();
        png(&root.join("a/0.png"), 2, 2, false, 0);
        let e = read_image_folder(&root, &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("/b: an empty class folder"), "{e}");
        let full = std::fs::read(root.join("a/0.png")).unwrap();
        std::fs::write(root.join("b/0.png"), &full[..full.len() / 2]).unwrap();
        let e = read_image_folder(&root, &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b/0.png: not a readable PNG or JPEG image"),
            "{e}"
        );
        let e = read_image_folder(&root.join("nowhere"), &ImageOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nowhere"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
