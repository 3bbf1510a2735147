//! `fleuve bench metrics`: what a scrape costs. Fills the process's registry with `series`
//! gauge series (consumer lag of that many partitions) beside a gRPC histogram family, then
//! times rendering `/metrics` in both formats, beside the baseline of formatting the same
//! number of sample lines with `write!` into a string (no registry, no labels' escaping).

use std::{fmt::Write as _, time::Instant};

use fleuve_metrics::{Format, metrics};

/// Renders `renders` times per format and prints the median and the slowest.
pub fn scrape(series: usize, renders: usize) -> anyhow::Result<()> {
    anyhow::ensure!(series > 0 && renders > 0, "--series and --renders must be positive");
    let m = metrics();
    // Realistic shapes around the bulk: a hundred methods with latency histograms.
    for i in 0..100 {
        m.grpc_handled("fleuve.bench.v1.BenchService", &format!("Method{i}"), 0, 0.001 * i as f64, None);
    }
    for i in 0..series {
        m.consumer_lag(
            &format!("group-{}", i / 1000),
            &format!("topic-{}", (i / 100) % 10),
            (i % 100) as i32,
            i as i64,
        );
    }
    let lines = m.encode(Format::Prometheus).lines().filter(|l| !l.starts_with('#')).count();

    println!("scrape cost: {lines} series in the registry ({series} lag gauges, 100 gRPC methods with histograms)");
    println!("{:<34} {:>10} {:>10} {:>10}", "render", "median ms", "max ms", "KiB");
    for (name, format) in [
        ("prometheus text 0.0.4", Some(Format::Prometheus)),
        ("openmetrics 1.0", Some(Format::OpenMetrics)),
        ("baseline: write! of as many lines", None),
    ] {
        let mut times = Vec::with_capacity(renders);
        let mut bytes = 0;
        for _ in 0..renders {
            let started = Instant::now();
            let text = match format {
                Some(format) => m.encode(format),
                None => baseline(lines),
            };
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            bytes = text.len();
            std::hint::black_box(text);
        }
        times.sort_by(f64::total_cmp);
        println!("{name:<34} {:>10.2} {:>10.2} {:>10}", times[times.len() / 2], times[times.len() - 1], bytes / 1024);
    }
    println!("target: a render of 10 000 series within 20 ms");
    Ok(())
}

/// `lines` sample lines shaped like the lag gauges, formatted directly.
fn baseline(lines: usize) -> String {
    let mut out = String::with_capacity(lines * 100);
    for i in 0..lines {
        let _ = writeln!(
            out,
            "fleuve_consumer_lag_records{{group=\"group-{}\",topic=\"topic-{}\",partition=\"{}\"}} {}",
            i / 1000,
            (i / 100) % 10,
            i % 100,
            i
        );
    }
    out
}
