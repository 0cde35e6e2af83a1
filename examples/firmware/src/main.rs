//! Trains a 64-32-10 MLP with inverted dropout on the digits set, on an emulated
//! microcontroller: Cortex-M4F (QEMU `mps2-an386`) or RV32IMAC (QEMU `virt`).
//! The data set sits in flash; the whole training state is one `static` buffer
//! sized at compile time by `Network::memory_len`. Prints the loss per epoch and
//! the test accuracy over semihosting and exits with status 0 if the accuracy
//! reaches the bar, 2 if not (1 is QEMU's own failure code).
#![no_std]
#![no_main]

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
static mut ORDER: [u32; 1437] = [0; 1437];

const fn keep(k: f32) -> Dropout {
    match Dropout::inverted(k) {
        Ok(d) => d,
        Err(_) => panic!("keep out of range"),
    }
}

fn run() -> Result<u32, tinyreg::Error> {
    let train = Icls::parse(TRAIN)?;
    let test = Icls::parse(TEST)?;
    let config = TrainConfig {
        batch: BATCH,
        update: Update::new(OPTIMIZER, WeightDecay::NONE)?,
        lr: LearningRate::constant(if cfg!(feature = "sgd") { 0.05 } else { 3e-3 }),
        clip_norm: None,
        seed: 2026,
        early_stopping: None,
    };
    // SAFETY: main runs once, single-threaded, and nothing else touches these.
    let (arena, order) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(ARENA),
            &mut *core::ptr::addr_of_mut!(ORDER),
        )
    };
    let mut trainer = Trainer::new(Network::new(&LAYERS), config, arena)?;
    hprint!(
        "tinyreg firmware: 64-{}-10 MLP, dropout 0.9, batch {}, {} bytes of training state\n",
        HIDDEN,
        BATCH,
        FLOATS * 4
    );
    let mut history = [EpochMetrics::default()];
    for epoch in 1..=EPOCHS {
        trainer.fit(&train, &test, 1, order, &mut history)?;
        let h = history[0];
        hprint!(
            "epoch {}: train loss {} acc {}%, test acc {}%\n",
            epoch,
            Milli(h.train.loss),
            percent(h.train.accuracy),
            percent(h.val.accuracy)
        );
    }
    Ok(percent(trainer.evaluate(&test)?.accuracy))
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
    use tinyreg::{Dense, DenseParams};

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
        let r = layer.forward(
            B,
            DenseParams {
                weights: w,
                bias: b,
            },
            core::hint::black_box(x),
            y,
            scratch,
        );
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
        early_stopping: None,
    };
    // SAFETY: training is over; nothing else uses the arena now.
    let arena = unsafe { &mut *core::ptr::addr_of_mut!(ARENA) };
    let mut trainer = Trainer::new(Network::new(&LAYERS), config, arena)?;
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
