//! Checkpoints: a trainer's weights, and optionally everything needed to go on
//! training it bit for bit, as bytes a file, flash or another program can hold.
//!
//! Format version 2, every number little-endian:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"tinyreg\0"` |
//! | 8 | 4 | version, `2` |
//! | 12 | 4 | flags: bit 0 set when the training state (optimizer, generators, step) follows the weights |
//! | 16 | 8 | [`fingerprint`] of the network's shapes |
//! | 24 | 8 | parameters `P` (floats) |
//! | 32 | 8 | optimizer state `S` (floats; 0 without the training state) |
//! | 40 | 8 | buffers `B` (floats: batch norm's running statistics) |
//! | 48 | 4 | optimizer steps taken |
//! | 52 | 16 | the shuffling generator's state |
//! | 68 | 256 | the mask generator's state ([`crate::MaskRngState::to_bytes`]) |
//! | 324 | 4 `P` | parameters, in [`crate::Network`] order |
//! | | 4 `S` | optimizer state |
//! | | 4 `B` | buffers |
//! | | 4 | CRC-32C (Castagnoli) of every byte before it |
//!
//! Version 1 is the same without the checksum; it is still read. Without the
//! training state the step and generator fields are zero. A checkpoint for
//! another network (another fingerprint or length) is refused with
//! [`Error::BadCheckpoint`], one whose checksum does not match with
//! [`Error::ChecksumMismatch`], and one holding a NaN or infinite float with
//! [`Error::BadCheckpoint`], all before anything is written.
//!
//! ```
//! use tinyreg::{Dense, Error, Icls, Layer, LearningRate, Network, TrainConfig, Trainer};
//!
//! let layers = [Layer::Dense(Dense::new(64, 32).with_relu()), Layer::Dense(Dense::new(32, 10))];
//! let data = Icls::parse(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits-train.bin")))?;
//! let config = TrainConfig::new(32, LearningRate::constant(0.05));
//! let net = Network::new(&layers);
//! let mut memory = vec![0.0f32; net.memory_len_for(&config)];
//! let mut trainer = Trainer::new(net, config, &mut memory)?;
//! let mut order = vec![0u32; data.count];
//! let mut history = [Default::default(); 1];
//! trainer.fit(&data, &data.slice(0, 100)?, 1, &mut order, &mut history)?;
//!
//! // With the training state: another trainer goes on exactly where this one is.
//! let mut bytes = vec![0u8; trainer.checkpoint_len(true)?];
//! trainer.write_checkpoint(true, &mut bytes)?;
//! let mut memory2 = vec![0.0f32; net.memory_len_for(&config)];
//! let mut resumed = Trainer::new(net, config, &mut memory2)?;
//! resumed.load_checkpoint(&bytes)?;
//! assert_eq!(resumed.params(), trainer.params());
//! assert_eq!(resumed.state(), trainer.state());
//!
//! // One flipped bit, and nothing loads.
//! bytes[400] ^= 1;
//! assert!(matches!(resumed.load_checkpoint(&bytes), Err(Error::ChecksumMismatch { .. })));
//! # Ok::<(), Error>(())
//! ```

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

use super::Trainer;
use crate::error::Error;
use crate::rng::{MaskRng, MaskRngState, STATE_BYTES};
use crate::size::{add, fits, mul};
use crate::trainer::network::Network;

/// The first eight bytes of every checkpoint.
pub const MAGIC: [u8; 8] = *b"tinyreg\0";
/// The version this crate writes (it reads 1 as well).
pub const VERSION: u32 = 2;
/// Bytes before the floats.
pub const HEADER_BYTES: usize = 68 + STATE_BYTES;
/// Bytes after the floats in a version-2 checkpoint: the CRC-32C.
pub const CHECKSUM_BYTES: usize = 4;
const HAS_STATE: u32 = 1;

/// CRC-32C (Castagnoli, reflected polynomial `0x82F63B78`, as iSCSI, ext4
/// and SSE4.2's `crc32` instruction compute it) of `bytes`:
/// `crc32c(b"123456789") == 0xE306_9283`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC32C_TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The byte-at-a-time table of [`crc32c`] (1 KiB), built at compile time.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// Writes the CRC-32C of everything before the last [`CHECKSUM_BYTES`] of
/// `bytes` into them (a tool that edits a checkpoint reseals it with this).
pub fn seal(bytes: &mut [u8]) -> Result<(), Error> {
    let body = bytes
        .len()
        .checked_sub(CHECKSUM_BYTES)
        .ok_or(Error::BufferTooSmall {
            needed: CHECKSUM_BYTES,
            got: bytes.len(),
        })?;
    let crc = crc32c(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A 64-bit FNV-1a hash of each layer's kind and of its input, output,
/// parameter and buffer counts: two networks whose weights fit each other's
/// places have the same fingerprint, whatever their dropout rates.
pub const fn fingerprint(net: &Network<'_>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let layers = net.layers();
    let mut i = 0;
    while i < layers.len() {
        let layer = &layers[i];
        let fields = [
            layer.kind_code() as u64,
            layer.inputs() as u64,
            layer.outputs() as u64,
            layer.params_len() as u64,
            layer.buffers_len() as u64,
        ];
        let mut f = 0;
        while f < fields.len() {
            let bytes = fields[f].to_le_bytes();
            let mut b = 0;
            while b < 8 {
                hash = (hash ^ bytes[b] as u64).wrapping_mul(0x0000_0100_0000_01b3);
                b += 1;
            }
            f += 1;
        }
        i += 1;
    }
    hash
}

/// What a checkpoint's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointHeader {
    /// The network's [`fingerprint`].
    pub fingerprint: u64,
    /// Parameter floats.
    pub params: usize,
    /// Optimizer-state floats (0 without the training state).
    pub opt_state: usize,
    /// Buffer floats.
    pub buffers: usize,
    /// Whether the training state is included.
    pub has_state: bool,
    /// The format version (1 has no checksum).
    pub version: u32,
}

impl CheckpointHeader {
    /// Reads and checks the header of `bytes`: magic, version, the
    /// checksum (version 2), flags, and a total length that matches the
    /// counts.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() < HEADER_BYTES {
            return Err(Error::BadCheckpoint {
                reason: "shorter than a checkpoint header",
            });
        }
        if bytes[..8] != MAGIC {
            return Err(Error::BadCheckpoint {
                reason: "not a tinyreg checkpoint (wrong magic)",
            });
        }
        let version = u32_at(bytes, 8);
        if version != 1 && version != VERSION {
            return Err(Error::BadCheckpoint {
                reason: "unsupported checkpoint version (this crate reads versions 1 and 2)",
            });
        }
        let trailer = if version == 1 { 0 } else { CHECKSUM_BYTES };
        if trailer > 0 {
            // Checked before the counts, so a flipped bit anywhere is named
            // for what it is.
            let body = bytes.len() - CHECKSUM_BYTES;
            let stored = u32_at(bytes, body);
            let computed = crc32c(&bytes[..body]);
            if stored != computed {
                return Err(Error::ChecksumMismatch { stored, computed });
            }
        }
        let flags = u32_at(bytes, 12);
        if flags & !HAS_STATE != 0 {
            return Err(Error::BadCheckpoint {
                reason: "unknown checkpoint flags",
            });
        }
        let count = |at| usize::try_from(u64_at(bytes, at)).map_err(|_| Error::ShapeOverflow);
        let header = CheckpointHeader {
            fingerprint: u64_at(bytes, 16),
            params: count(24)?,
            opt_state: count(32)?,
            buffers: count(40)?,
            has_state: flags & HAS_STATE != 0,
            version,
        };
        if !header.has_state && header.opt_state != 0 {
            return Err(Error::BadCheckpoint {
                reason: "optimizer state without the training-state flag",
            });
        }
        let floats = add(add(header.params, header.opt_state), header.buffers);
        let expected = fits(add(add(HEADER_BYTES, mul(4, floats)), trailer))?;
        if bytes.len() != expected {
            return Err(Error::BadCheckpoint {
                reason: "length does not match the counts in its header (truncated?)",
            });
        }
        Ok(header)
    }
}

/// Bytes after the floats: the checksum, in version 2.
fn trailer_len(header: &CheckpointHeader) -> usize {
    if header.version == 1 {
        0
    } else {
        CHECKSUM_BYTES
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

impl Trainer<'_, '_> {
    /// Bytes of this trainer's checkpoint, with or without its training state.
    pub fn checkpoint_len(&self, with_state: bool) -> Result<usize, Error> {
        let [(_, p), (_, s), (_, b)] = self.snapshot_ranges();
        let floats = if with_state {
            add(add(p, s), b)
        } else {
            add(p, b)
        };
        fits(add(add(HEADER_BYTES, mul(4, floats)), CHECKSUM_BYTES))
    }

    /// Writes the checkpoint into `out` (exactly
    /// [`Trainer::checkpoint_len`] bytes): the weights and buffers, and with
    /// `with_state` the optimizer state, generators and step count, from
    /// which [`Trainer::load_checkpoint`] goes on training bit for bit.
    pub fn write_checkpoint(&self, with_state: bool, out: &mut [u8]) -> Result<(), Error> {
        if with_state {
            // Weights only is fine: that saves the averaged network.
            self.check_live_weights()?;
        }
        let needed = self.checkpoint_len(with_state)?;
        if out.len() != needed {
            return Err(Error::LengthMismatch {
                expected: needed,
                got: out.len(),
            });
        }
        let [params, opt_state, buffers] = self.snapshot_ranges();
        let (header, body) = out.split_at_mut(HEADER_BYTES);
        header.fill(0);
        header[..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        let flags = if with_state { HAS_STATE } else { 0 };
        header[12..16].copy_from_slice(&flags.to_le_bytes());
        header[16..24].copy_from_slice(&fingerprint(&self.net).to_le_bytes());
        let state_floats = if with_state { opt_state.1 } else { 0 };
        for (at, n) in [(24, params.1), (32, state_floats), (40, buffers.1)] {
            header[at..at + 8].copy_from_slice(&(n as u64).to_le_bytes());
        }
        if with_state {
            let state = self.state();
            header[48..52].copy_from_slice(&state.step.to_le_bytes());
            header[52..68].copy_from_slice(&state.shuffle);
            header[68..].copy_from_slice(&state.masks.to_bytes());
        }
        let mut at = 0;
        let ranges = [params, (opt_state.0, state_floats), buffers];
        for (start, len) in ranges {
            for &x in &self.mem[start..start + len] {
                body[at..at + 4].copy_from_slice(&x.to_le_bytes());
                at += 4;
            }
        }
        seal(out)
    }

    /// Loads a checkpoint with its training state: weights, buffers,
    /// optimizer state, generators and step, so training goes on exactly as
    /// if it had never stopped. The network and optimizer must be those that
    /// wrote it; nothing changes on error. Refused with
    /// [`Error::AverageSwappedIn`] while the weight average is swapped in
    /// (the live weights would be lost).
    pub fn load_checkpoint(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.check_live_weights()?;
        let header = self.check_checkpoint(bytes)?;
        if !header.has_state {
            return Err(Error::BadCheckpoint {
                reason: "holds weights only: nothing to resume from",
            });
        }
        if header.opt_state != self.snapshot_ranges()[1].1 {
            return Err(Error::BadCheckpoint {
                reason: "written with another optimizer or weight average (training-state length differs)",
            });
        }
        let mut masks = [0u8; STATE_BYTES];
        masks.copy_from_slice(&bytes[68..HEADER_BYTES]);
        let mut shuffle = [0u8; 16];
        shuffle.copy_from_slice(&bytes[52..68]);
        if shuffle == [0; 16] {
            return Err(Error::BadCheckpoint {
                reason: "all-zero shuffling generator state",
            });
        }
        let masks = MaskRng::from_state(&MaskRngState::from_bytes(&masks)?)?;
        let end = bytes.len() - trailer_len(&header);
        self.copy_floats(&bytes[HEADER_BYTES..end], &self.snapshot_ranges());
        self.masks = masks;
        self.shuffle_rng = Xoshiro128PlusPlus::from_seed(shuffle);
        self.step = u32_at(bytes, 48);
        self.sync_plateau_rate();
        Ok(())
    }

    /// Loads the weights and buffers of a checkpoint (with or without its
    /// training state) and nothing else: for prediction, or to start a new
    /// training from them. Nothing changes on error; refused while the
    /// weight average is swapped in, as [`Trainer::load_checkpoint`] is.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.check_live_weights()?;
        let header = self.check_checkpoint(bytes)?;
        let [params, _, buffers] = self.snapshot_ranges();
        let skip = (HEADER_BYTES + 4 * params.1, 4 * header.opt_state);
        let end = bytes.len() - trailer_len(&header);
        self.copy_floats(&bytes[HEADER_BYTES..skip.0], &[params]);
        self.copy_floats(&bytes[skip.0 + skip.1..end], &[buffers]);
        Ok(())
    }

    fn check_checkpoint(&self, bytes: &[u8]) -> Result<CheckpointHeader, Error> {
        let header = CheckpointHeader::parse(bytes)?;
        let [params, _, buffers] = self.snapshot_ranges();
        if header.fingerprint != fingerprint(&self.net)
            || header.params != params.1
            || header.buffers != buffers.1
        {
            return Err(Error::BadCheckpoint {
                reason: "written for another network (its layer shapes differ)",
            });
        }
        let end = bytes.len() - trailer_len(&header);
        let finite = bytes[HEADER_BYTES..end]
            .chunks_exact(4)
            .all(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite());
        if !finite {
            return Err(Error::BadCheckpoint {
                reason: "holds a NaN or infinite weight, statistic or optimizer value",
            });
        }
        Ok(header)
    }

    /// Copies little-endian floats from `bytes` into `ranges` of the memory,
    /// one after the other (the caller checked the lengths).
    fn copy_floats(&mut self, bytes: &[u8], ranges: &[(usize, usize)]) {
        let mut chunks = bytes.chunks_exact(4);
        for &(start, len) in ranges {
            for (x, c) in self.mem[start..start + len].iter_mut().zip(&mut chunks) {
                *x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
    }
}
