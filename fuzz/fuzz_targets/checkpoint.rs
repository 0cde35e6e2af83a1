//! Fuzz checkpoint loading: arbitrary bytes, and real checkpoints with bytes
//! flipped, cut or appended, resealed with a valid checksum or not (an
//! edit that is resealed reaches the checks behind the CRC). Nothing may
//! panic; a refused file leaves the trainer as it was; an accepted one loads
//! exactly its floats.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::trainer::checkpoint::{seal, CheckpointHeader};
use tinyreg::{
    BatchNorm, Dense, Layer, LearningRate, Network, Optimizer, TrainConfig, Trainer, Update,
    WeightDecay,
};

const LAYERS: [Layer; 3] = [
    Layer::Dense(Dense::new(3, 4).with_relu()),
    Layer::BatchNorm(BatchNorm::new(4)),
    Layer::Dense(Dense::new(4, 2)),
];

fuzz_target!(|data: &[u8]| {
    let config = TrainConfig {
        batch: 2,
        update: Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap(),
        lr: LearningRate::constant(1e-2),
        clip_norm: None,
        seed: 1,
        plateau: None,
        early_stopping: None,
        average: None,
    };
    let net = Network::new(&LAYERS);
    let mut mem = vec![0f32; net.memory_len(2, 2, false)];
    let mut trainer = Trainer::new(net, config, &mut mem).unwrap();
    let _ = CheckpointHeader::parse(data);

    // A real checkpoint, damaged as the first bytes say.
    let (&op, rest) = data.split_first().unwrap_or((&0, &[]));
    let with_state = op & 1 == 1;
    let mut file = vec![0u8; trainer.checkpoint_len(with_state).unwrap()];
    trainer.write_checkpoint(with_state, &mut file).unwrap();
    match op >> 1 {
        0 => file = rest.to_vec(),
        1 | 4 => {
            for pair in rest.chunks_exact(3) {
                let at = u16::from_le_bytes([pair[0], pair[1]]) as usize % file.len();
                file[at] = pair[2];
            }
            if op >> 1 == 4 {
                let _ = seal(&mut file);
            }
        }
        2 => file.truncate(rest.first().map_or(0, |&n| n as usize * 7) % file.len()),
        _ => file.extend_from_slice(rest),
    }
    let before = trainer.params().to_vec();
    let steps = trainer.steps();
    for load in [Trainer::load_checkpoint, Trainer::load_weights] {
        if load(&mut trainer, &file).is_err() {
            assert!(
                trainer.params() == &before[..],
                "a refused file changed weights"
            );
            assert_eq!(trainer.steps(), steps);
        } else {
            // Accepted: the weights are the file's floats.
            let header = CheckpointHeader::parse(&file).unwrap();
            assert_eq!(header.params, before.len());
        }
    }
});
