//! One bcrypt hash and one verify at the configured cost (`APP__PASSWORD__BCRYPT_COST`, 12 by
//! default), through the adapter: the blocking pool hop included.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use domain::PasswordHasher;
use infra_bcrypt::{BcryptHasher, Cost};

fn cost() -> u32 {
    std::env::var("APP__PASSWORD__BCRYPT_COST")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(12)
}

fn hashing(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cost = cost();
    let hasher = BcryptHasher::new(
        Cost::try_from(cost).unwrap(),
        std::num::NonZeroUsize::MIN,
        16,
    );
    let hash = runtime.block_on(hasher.hash("correct-horse-1")).unwrap();
    let mut group = c.benchmark_group(format!("bcrypt/cost-{cost}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("hash", |b| {
        b.to_async(&runtime).iter(|| hasher.hash("correct-horse-1"))
    });
    group.bench_function("verify", |b| {
        b.to_async(&runtime)
            .iter(|| hasher.verify("correct-horse-1", &hash))
    });
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
