//! The memory pool of the build of the published tables ([`BuildPool`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::Result;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};

/// DataFusion's fair spilling pool for every operator except the repartitioning between cores,
/// whose buffers are counted but never refused.
///
/// A `RepartitionExec` that is refused memory writes its batches to a spill pool, and in
/// DataFusion 55.2 the reader of that pool can wait forever on the older of two open spill files
/// while the batch it needs is in the newer one (apache/datafusion#24883, fixed after 55). A
/// two-core `lms etl run` of two years at ten times the national volume hung once in its build:
/// every thread parked, spill files open. A repartition spills only when refused, so it never
/// does here. It holds a few batches per channel, so leaving it out of the limit costs little;
/// the aggregations, sorts and joins the limit is for stay in it. (The reproducing query
/// did not hang on this machine in 60 runs, with DataFusion's fair or greedy pool, so no test
/// here shows the hang itself.)
#[derive(Debug)]
pub(crate) struct BuildPool {
    fair: FairSpillPool,
    /// Bytes held by repartitions.
    repartition: AtomicUsize,
}

impl BuildPool {
    pub(crate) fn new(limit: usize) -> BuildPool {
        BuildPool { fair: FairSpillPool::new(limit), repartition: AtomicUsize::new(0) }
    }
}

fn repartition(consumer: &MemoryConsumer) -> bool {
    consumer.name().starts_with("RepartitionExec")
}

impl std::fmt::Display for BuildPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "build({}, repartitions unlimited)", self.fair)
    }
}

impl MemoryPool for BuildPool {
    fn name(&self) -> &str {
        "build"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        if !repartition(consumer) {
            self.fair.register(consumer);
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if !repartition(consumer) {
            self.fair.unregister(consumer);
        }
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        if repartition(reservation.consumer()) {
            self.repartition.fetch_add(additional, Ordering::Relaxed);
        } else {
            self.fair.grow(reservation, additional);
        }
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        if repartition(reservation.consumer()) {
            self.repartition.fetch_sub(shrink, Ordering::Relaxed);
        } else {
            self.fair.shrink(reservation, shrink);
        }
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        if repartition(reservation.consumer()) {
            self.repartition.fetch_add(additional, Ordering::Relaxed);
            Ok(())
        } else {
            self.fair.try_grow(reservation, additional)
        }
    }

    fn reserved(&self) -> usize {
        self.fair.reserved() + self.repartition.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.fair.memory_limit()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};

    use super::BuildPool;

    /// A repartition is never refused, so it never takes the spilling path that can hang; the
    /// others are held to the limit, and everything is given back.
    #[test]
    fn repartitions_are_counted_not_refused() {
        let pool: Arc<dyn MemoryPool> = Arc::new(BuildPool::new(1000));
        let repartition = MemoryConsumer::new("RepartitionExec[0]").with_can_spill(true).register(&pool);
        let aggregate = MemoryConsumer::new("GroupedHashAggregateStream[0]").with_can_spill(true).register(&pool);
        repartition.try_grow(5000).unwrap();
        assert!(aggregate.try_grow(1001).is_err(), "the limit holds for the others");
        aggregate.try_grow(1000).unwrap();
        assert_eq!(pool.reserved(), 6000);
        drop(repartition);
        drop(aggregate);
        assert_eq!(pool.reserved(), 0);
    }
}
