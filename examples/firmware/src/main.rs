//! Chooses and trains a 64-32-10 MLP with inverted dropout on the digits set,
//! on an emulated microcontroller: Cortex-M4F (QEMU `mps2-an386`) or RV32IMAC
//! (QEMU `virt`). The recipe of `tinyreg::tune` as on a laptop: the initial
//! loss checked, the learning-rate range test (undone by resetting the
//! trainer from its seed: no snapshot memory), a random search of 8 trials of
//! 2 epochs over the learning rate and the dropout keep, selected on a
//! validation split (the last 287 training images: the data stay in flash),
//! then the winner trained and scored once on test, and its curves read.
//! The whole training state is one `static` buffer sized at compile time by
//! `Network::memory_len`. Prints over semihosting and exits with status 0 if
//! the test accuracy reaches the bar, 2 if not (1 is QEMU's own failure code).
#![no_std]
#![no_main]

use tinyreg::tune::{
    check_initial_loss, diagnose, lr_range_test, max_findings, Finding, Param, RangePoint,
    RangeTestConfig, Sampler, Space, Thresholds, INITIAL_LOSS_TOLERANCE,
};
use tinyreg::{
    Dense, Dropout, EpochMetrics, Icls, Layer, LearningRate, Network, Optimizer, TrainConfig,
    Trainer, Update, WeightDecay,
};

#[cfg(target_arch = "arm")]
use cortex_m_semihosting::{hprint, syscall};
#[cfg(target_arch = "riscv32")]
use riscv_semihosting::{hprint, syscall};

const TRAIN: &[u8] = include_bytes!("../../../data/digits-train.bin");
const TEST: &[u8] = include_bytes!("../../../data/digits-test.bin");

const HIDDEN: usize = 32;
const LAYERS: [Layer; 3] = [
    Layer::Dense(Dense::new(64, HIDDEN).with_relu()),
    Layer::Dropout {
        features: HIDDEN,
        dropout: keep(0.9),
    },
    Layer::Dense(Dense::new(HIDDEN, 10)),
];
const BATCH: usize = 16;
const EPOCHS: u32 = 12;
/// Training images before the validation split.
const TRAIN_COUNT: usize = 1150;
/// The search: random points over the learning rate and the dropout keep.
const SEARCH: [Param; 2] = [
    Param::log_uniform("lr", 3e-4, 3e-2),
    Param::uniform("keep", 0.6, 1.0),
];
const SEARCH_SEED: u64 = 2026;
const SEARCH_TRIALS: u64 = 8;
const SEARCH_EPOCHS: u32 = 2;
/// Test accuracy below this fails the run (the host reaches about 0.9).
const BAR_PERCENT: u32 = 85;

#[cfg(feature = "sgd")]
const OPTIMIZER: Optimizer = Optimizer::Momentum { momentum: 0.9 };
#[cfg(not(feature = "sgd"))]
const OPTIMIZER: Optimizer = Optimizer::ADAM;

/// Every float of training state: parameters, gradients, optimizer moments,
/// activations, masks, gradient buffers and the GEMM panel.
const FLOATS: usize = Network::new(&LAYERS).memory_len(BATCH, OPTIMIZER.state_per_param(), false);
static mut ARENA: [f32; FLOATS] = [0.0; FLOATS];
static mut ORDER: [u32; TRAIN_COUNT] = [0; TRAIN_COUNT];
static mut POINTS: [RangePoint; 100] = [RangePoint {
    lr: 0.0,
    loss: 0.0,
    smoothed: 0.0,
}; 100];

const fn keep(k: f32) -> Dropout {
    match Dropout::inverted(k) {
        Ok(d) => d,
        Err(_) => panic!("keep out of range"),
    }
}

fn layers(keep: f32) -> Result<[Layer; 3], tinyreg::Error> {
    let mut layers = LAYERS;
    layers[1] = Layer::Dropout {
        features: HIDDEN,
        dropout: Dropout::inverted(keep)?,
    };
    Ok(layers)
}

fn config(lr: f32, seed: u64) -> Result<TrainConfig, tinyreg::Error> {
    Ok(TrainConfig {
        batch: BATCH,
        update: Update::new(OPTIMIZER, WeightDecay::NONE)?,
        lr: LearningRate::constant(lr),
        clip_norm: None,
        seed,
        plateau: None,
        early_stopping: None,
        average: None,
    })
}

fn run() -> Result<u32, tinyreg::Error> {
    let data = Icls::parse(TRAIN)?;
    let (train, val) = (
        data.slice(0, TRAIN_COUNT)?,
        data.slice(TRAIN_COUNT, data.count)?,
    );
    let test = Icls::parse(TEST)?;
    // SAFETY: main runs once, single-threaded, and nothing else touches these.
    let (arena, order, points) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(ARENA),
            &mut *core::ptr::addr_of_mut!(ORDER),
            &mut *core::ptr::addr_of_mut!(POINTS),
        )
    };
    hprint!(
        "tinyreg firmware: 64-{}-10 MLP, batch {}, {} bytes of training state; {} train / {} validation / {} test\n",
        HIDDEN,
        BATCH,
        FLOATS * 4,
        train.count,
        val.count,
        test.count
    );
    if !same_points_as_the_host()? {
        hprint!("samplers: points differ from the host's golden values\n");
        exit(4);
    }
    hprint!(
        "samplers: random, Sobol, Latin hypercube and grid give the host's points bit for bit\n"
    );
    recipe(&train, arena, order, points)?;
    let (lr, keep, seed) = search(&train, &val, arena, order)?;
    train_winner(&train, &val, &test, lr, keep, seed, arena, order)
}

/// Trial 5 of each sampler for the firmware's space and seed, as `f64` bits,
/// pinned on the host too (`tests/tune_sampler.rs`): a search is the same
/// search on every target.
const GOLDEN: [(Sampler, [u64; 2]); 4] = [
    (
        Sampler::Random,
        [0x3f43_c5e6_0987_efc5, 0x3fea_8a76_7489_3712],
    ),
    (
        Sampler::Sobol,
        [0x3f8a_113c_a424_0064, 0x3fea_b60e_0b79_999a],
    ),
    (
        Sampler::LatinHypercube { trials: 8 },
        [0x3f9a_2b2f_c33f_2c50, 0x3fe3_84bc_950a_e1f9],
    ),
    (
        Sampler::Grid { shuffled: true },
        [0x3f68_9374_bc6a_7ef8, 0x3fe9_9999_9999_999a],
    ),
];

fn same_points_as_the_host() -> Result<bool, tinyreg::Error> {
    let space = Space::new(SEARCH)?;
    for (sampler, bits) in GOLDEN {
        let point = space.point(sampler, SEARCH_SEED, 5)?;
        for (value, &want) in point.values.iter().zip(&bits) {
            if value.as_f64().map(f64::to_bits) != Some(want) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The default learning rate of the recipe's checks.
const DEFAULT_LR: f32 = if cfg!(feature = "sgd") { 0.05 } else { 3e-3 };

/// Steps 1 and 3 on the default configuration, each on a new trainer. Each
/// phase is its own function so that their trainers do not share (and grow)
/// one stack frame.
fn recipe(
    train: &Icls,
    arena: &mut [f32],
    order: &mut [u32],
    points: &mut [RangePoint],
) -> Result<(), tinyreg::Error> {
    initial_loss(train, arena)?;
    range_test(train, arena, order, points)
}

/// The recipe's network (dropout 0.9) at the default rate, from seed 2026.
fn recipe_trainer(arena: &mut [f32]) -> Result<Trainer<'static, '_>, tinyreg::Error> {
    Trainer::new(Network::new(&LAYERS), config(DEFAULT_LR, 2026)?, arena)
}

#[inline(never)]
fn initial_loss(train: &Icls, arena: &mut [f32]) -> Result<(), tinyreg::Error> {
    let mut trainer = recipe_trainer(arena)?;
    let r = check_initial_loss(&mut trainer, train, INITIAL_LOSS_TOLERANCE)?;
    hprint!(
        "step 1, initial loss {} against ln 10 = {}: {:?}\n",
        Milli(r.loss),
        Milli(r.expected),
        r.verdict
    );
    Ok(())
}

#[inline(never)]
fn range_test(
    train: &Icls,
    arena: &mut [f32],
    order: &mut [u32],
    points: &mut [RangePoint],
) -> Result<(), tinyreg::Error> {
    let mut trainer = recipe_trainer(arena)?;
    let range = RangeTestConfig::FASTAI;
    // An untrained trainer is reset from its seed afterwards: no snapshot.
    let r = lr_range_test(&mut trainer, train, &range, order, points, &mut [])?;
    hprint!(
        "step 3, range test: {} points, suggestions valley {}, steep {}, minimum/10 {}\n",
        r.points,
        Sci(r.suggestions.valley),
        Sci(r.suggestions.steep),
        Sci(r.suggestions.min_tenth)
    );
    Ok(())
}

/// Step 4: a small random search, selected on validation accuracy (ties to
/// the lower validation loss). Returns the winner's rate, keep and seed.
#[inline(never)]
fn search(
    train: &Icls,
    val: &Icls,
    arena: &mut [f32],
    order: &mut [u32],
) -> Result<(f32, f32, u64), tinyreg::Error> {
    let space = Space::new(SEARCH)?;
    let mut history = [EpochMetrics::default(); SEARCH_EPOCHS as usize];
    let mut best: Option<(u64, f32, f32)> = None;
    for i in 0..SEARCH_TRIALS {
        let point = space.point(Sampler::Random, SEARCH_SEED, i)?;
        let (lr, keep) = (point.f32_or(0, DEFAULT_LR), point.f32_or(1, 1.0));
        let trial_layers = layers(keep)?;
        let mut trainer = Trainer::new(
            Network::new(&trial_layers),
            config(lr, SEARCH_SEED + i)?,
            &mut *arena,
        )?;
        trainer.fit(train, val, SEARCH_EPOCHS, order, &mut history)?;
        let v = history[SEARCH_EPOCHS as usize - 1].val;
        hprint!(
            "trial {}: lr {} keep {} -> validation {}% (loss {})\n",
            i,
            Sci(lr),
            Milli(keep),
            percent(v.accuracy),
            Milli(v.loss)
        );
        let better = best
            .is_none_or(|(_, acc, loss)| v.accuracy > acc || (v.accuracy == acc && v.loss < loss));
        if better {
            best = Some((i, v.accuracy, v.loss));
        }
    }
    let (winner, _, _) = best.ok_or(tinyreg::Error::InvalidConfig { reason: "no trial" })?;
    let point = space.point(Sampler::Random, SEARCH_SEED, winner)?;
    let (lr, keep) = (point.f32_or(0, DEFAULT_LR), point.f32_or(1, 1.0));
    hprint!(
        "winner: trial {} (lr {}, keep {}), trained {} epochs\n",
        winner,
        Sci(lr),
        Milli(keep),
        EPOCHS
    );
    Ok((lr, keep, SEARCH_SEED + winner))
}

/// The winner trained for `EPOCHS`, its curves read, test scored once.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn train_winner(
    train: &Icls,
    val: &Icls,
    test: &Icls,
    lr: f32,
    keep: f32,
    seed: u64,
    arena: &mut [f32],
    order: &mut [u32],
) -> Result<u32, tinyreg::Error> {
    let final_layers = layers(keep)?;
    let mut history = [EpochMetrics::default(); EPOCHS as usize];
    let mut trainer = Trainer::new(Network::new(&final_layers), config(lr, seed)?, arena)?;
    trainer.fit(train, val, EPOCHS, order, &mut history)?;
    for (epoch, h) in history.iter().enumerate() {
        hprint!(
            "epoch {}: train loss {} acc {}%, validation acc {}%\n",
            epoch + 1,
            Milli(h.train.loss),
            percent(h.train.accuracy),
            percent(h.val.accuracy)
        );
    }
    let mut findings = [Finding::NoisyLoss { noise: 0.0 }; max_findings(3)];
    let n = diagnose(
        &history,
        &[],
        trainer.update_ratios(),
        &Thresholds::DEFAULT,
        &mut findings,
    )?;
    for f in &findings[..n] {
        hprint!("diagnosis: {}: {}\n", f.kind(), f.suggestion());
    }
    if n == 0 {
        hprint!("diagnosis: nothing to report\n");
    }
    Ok(percent(trainer.evaluate(test)?.accuracy))
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    let top = stack::paint();
    let result = run();
    let used = stack::peak(top);
    match result {
        Ok(accuracy) => {
            hprint!(
                "test accuracy {}% (bar {}%), peak stack {} bytes\n",
                accuracy,
                BAR_PERCENT,
                used
            );
            #[cfg(feature = "insncount")]
            if insncount::run().is_err() {
                exit(3)
            }
            exit(if accuracy >= BAR_PERCENT { 0 } else { 2 })
        }
        Err(_) => {
            hprint!("error\n");
            exit(3)
        }
    }
}

/// Peak stack use, by painting the free stack with a pattern and finding the
/// lowest word that changed.
mod stack {
    const PATTERN: u32 = 0x5afe_c0de;
    /// Bytes below the current stack pointer that are painted (plenty: the
    /// trainer keeps its state in statics).
    const DEPTH: usize = 32 * 1024;
    /// Left alone just below the stack pointer, for the painter's own frame.
    const MARGIN: usize = 256;

    #[inline(always)]
    fn stack_pointer() -> usize {
        let sp: usize;
        // SAFETY: reads the stack pointer register, nothing else.
        unsafe {
            #[cfg(target_arch = "arm")]
            core::arch::asm!("mov {}, sp", out(reg) sp);
            #[cfg(target_arch = "riscv32")]
            core::arch::asm!("mv {}, sp", out(reg) sp);
        }
        sp
    }

    /// Paints the free stack; returns the stack pointer it started from.
    #[inline(never)]
    pub fn paint() -> usize {
        let top = stack_pointer();
        let mut p = top - MARGIN;
        while p > top - DEPTH {
            p -= 4;
            // SAFETY: below the live stack and above the statics (RAM is 4 MiB
            // or more and the statics take well under 1 MiB): unused memory.
            unsafe { core::ptr::write_volatile(p as *mut u32, PATTERN) };
        }
        top
    }

    /// Bytes of stack used below `top` since [`paint`].
    pub fn peak(top: usize) -> usize {
        let mut p = top - DEPTH;
        // SAFETY: the same painted region.
        while p < top - MARGIN && unsafe { core::ptr::read_volatile(p as *const u32) } == PATTERN {
            p += 4;
        }
        top - p
    }
}

/// Instruction-count windows for scripts/firmware-footprint.sh: QEMU's
/// insncount plugin counts the instructions between entering `bench_begin`
/// and entering `bench_end`.
#[cfg(feature = "insncount")]
mod insncount {
    use tinyreg::{Dense, DenseParams, ForwardBuffers};

    #[inline(never)]
    #[no_mangle]
    pub extern "C" fn bench_begin() {
        // SAFETY: a no-op instruction; the two markers differ so they are never merged.
        unsafe { core::arch::asm!("nop") }
    }

    #[inline(never)]
    #[no_mangle]
    pub extern "C" fn bench_end() {
        // SAFETY: as above.
        unsafe { core::arch::asm!("nop", "nop") }
    }

    const B: usize = 16;
    static mut X: [f32; B * 64] = [0.5; B * 64];
    static mut W: [f32; 64 * 32] = [0.25; 64 * 32];
    static mut BIAS: [f32; 32] = [0.0; 32];
    static mut Y: [f32; B * 32] = [0.0; B * 32];
    static mut SCRATCH: [f32; Dense::SCRATCH_LEN] = [0.0; Dense::SCRATCH_LEN];

    /// Window 0: one training step (batch 16). Window 1: the dense kernel alone,
    /// 64 -> 32 at batch 16, `16 * 64 * 32 = 32768` multiply-adds.
    pub fn run() -> Result<(), tinyreg::Error> {
        super::train_step_window()?;
        // SAFETY: single-threaded; only this function touches these statics.
        let (x, w, b, y, scratch) = unsafe {
            (
                &*core::ptr::addr_of!(X),
                &*core::ptr::addr_of!(W),
                &*core::ptr::addr_of!(BIAS),
                &mut *core::ptr::addr_of_mut!(Y),
                &mut *core::ptr::addr_of_mut!(SCRATCH),
            )
        };
        let layer = Dense::new(64, 32);
        bench_begin();
        let params = DenseParams {
            weights: w,
            bias: b,
        };
        let io = ForwardBuffers {
            batch: B,
            input: core::hint::black_box(x),
            output: &mut *y,
            scratch,
        };
        let r = layer.forward(params, io);
        core::hint::black_box(&y);
        bench_end();
        r
    }
}

#[cfg(feature = "insncount")]
fn train_step_window() -> Result<(), tinyreg::Error> {
    let train = Icls::parse(TRAIN)?;
    let config = TrainConfig {
        batch: BATCH,
        update: Update::new(OPTIMIZER, WeightDecay::NONE)?,
        lr: LearningRate::constant(1e-3),
        clip_norm: None,
        seed: 1,
        plateau: None,
        early_stopping: None,
        average: None,
    };
    // SAFETY: training is over; nothing else uses the arena now.
    let arena = unsafe { &mut *core::ptr::addr_of_mut!(ARENA) };
    let mut trainer = Trainer::new(Network::new(&LAYERS), config, arena)?;
    // A step as `fit` takes all but the last of each epoch: no update ratio.
    trainer.set_measure_updates(false);
    let idx: [u32; BATCH] = core::array::from_fn(|i| i as u32);
    trainer.train_step(&train, &idx)?; // warm: the measured step is a steady one
    insncount::bench_begin();
    let m = trainer.train_step(&train, core::hint::black_box(&idx));
    insncount::bench_end();
    m.map(|_| ())
}

fn percent(x: f32) -> u32 {
    (x * 100.0 + 0.5) as u32
}

/// Prints a positive value as `d.dde-x` without float formatting.
struct Sci(f32);

impl core::fmt::Display for Sci {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (mut m, mut e) = (self.0, 0i32);
        if !(m > 0.0 && m.is_finite()) {
            return write!(f, "?");
        }
        while m >= 10.0 {
            m /= 10.0;
            e += 1;
        }
        while m < 1.0 {
            m *= 10.0;
            e -= 1;
        }
        let mut c = (m * 100.0 + 0.5) as u32;
        if c >= 1000 {
            (c, e) = (100, e + 1); // 9.996 rounds up to 10.00
        }
        write!(f, "{}.{:02}e{}", c / 100, c % 100, e)
    }
}

/// Prints a non-negative value with three decimals without float formatting.
struct Milli(f32);

impl core::fmt::Display for Milli {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let m = (self.0 * 1000.0 + 0.5) as u32;
        write!(f, "{}.{:03}", m / 1000, m % 1000)
    }
}

/// No formatting in the panic path: report and stop.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(101)
}

/// Ends QEMU with `code`: SYS_EXIT_EXTENDED with ADP_Stopped_ApplicationExit (the
/// plain SYS_EXIT gives only 0 or 1 on 32-bit targets).
fn exit(code: usize) -> ! {
    // SAFETY: a semihosting call with a valid two-word parameter block.
    unsafe { syscall(0x20, &[0x20026usize, code]) };
    #[allow(clippy::empty_loop)]
    loop {}
}
