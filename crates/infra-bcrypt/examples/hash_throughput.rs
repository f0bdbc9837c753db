//! Hashes per second that N threads reach with bcrypt alone at a cost: the ceiling against which
//! the load benchmark measures login throughput.
//!
//! cargo run --release -p infra-bcrypt --example hash_throughput -- COST THREADS SECONDS

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: COST THREADS SECONDS"))
        .collect();
    let (cost, threads, seconds) = match args[..] {
        [cost, threads, seconds] => (cost as u32, threads, seconds),
        _ => panic!("usage: hash_throughput COST THREADS SECONDS"),
    };
    let hash = bcrypt::hash("correct-horse-1", cost).unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let verified: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = 0u64;
                    while Instant::now() < deadline {
                        assert!(bcrypt::verify("correct-horse-1", &hash).unwrap());
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    println!("{:.2}", verified as f64 / started.elapsed().as_secs_f64());
}
