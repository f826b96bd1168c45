use leasesim::trace::Replayer;
use leasesim_models::small_queue::SmallQueue;
fn main() {
    use std::mem::size_of;
    println!("replayer {}", size_of::<Replayer<SmallQueue>>());
    println!("lessor {}", size_of::<leasesim::lease::Lessor<SmallQueue>>());
    println!("kv {}", size_of::<leasesim::kv::Kv>());
    println!("history {}", size_of::<leasesim::oracle::History>());
    println!("queue {}", size_of::<SmallQueue>());
    println!("lease {}", size_of::<leasesim::lease::Lease>());
    println!("traceconfig {}", size_of::<leasesim::trace::TraceConfig>());
    println!("lessorconfig {}", size_of::<leasesim::lease::LessorConfig>());
}
