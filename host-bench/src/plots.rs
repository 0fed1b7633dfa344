//! SVG plots drawn with plotters: throughput per backend per shape, throughput
//! against heap size, and (for concurrent runs) a per-cycle pacer timeline
//! with the sweep and the arena's occupancy below it.
//!
//! Each function renders to a `String` so callers choose where it goes and
//! tests need no files. Colours are fixed per backend, so the same backend is
//! the same colour in every plot.

use crate::backend::{Backend, ALL};
use crate::error::BenchError;
use crate::record::Run;
use gpumark::collector::CycleStats;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// Pixel size of the throughput chart.
const BAR_SIZE: (u32, u32) = (960, 520);
/// Pixel size of one scaling panel (one per shape).
const PANEL_SIZE: (u32, u32) = (420, 340);
/// Pixel size of the timeline (both panels).
const TIMELINE_SIZE: (u32, u32) = (1040, 760);
/// Pixel height of the timeline's lower panel (sweep and arena), its legend
/// row included.
const TIMELINE_LOWER: u32 = 280;

fn plot_err<E: std::fmt::Display>(name: &'static str) -> impl Fn(E) -> BenchError {
    move |e| BenchError::Plot {
        name,
        message: e.to_string(),
    }
}

/// One colour per backend in [`ALL`]'s order (Tableau 10), so a backend is
/// the same colour in every plot.
const BACKEND_COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),  // cpu-serial: blue
    RGBColor(44, 160, 44),   // cpu: green
    RGBColor(127, 127, 127), // bfs: grey, the floor
    RGBColor(214, 39, 40),   // gpu: red
    RGBColor(255, 127, 14),  // vulkan: orange
    RGBColor(148, 103, 189), // metal: purple
    RGBColor(140, 86, 75),   // dx12: brown
    RGBColor(227, 119, 194), // gl: pink
];

/// The colour of a backend, stable across plots.
fn backend_color(name: &str) -> RGBColor {
    ALL.iter()
        .position(|b| b.name() == name)
        .and_then(|i| BACKEND_COLORS.get(i).copied())
        .unwrap_or(BLACK)
}

/// Height of the legend row above a figure's plots.
const LEGEND_ROW: u32 = 28;

/// Draws a one-row legend (a swatch and a name per entry) across `area`.
/// Figure-level, so it never covers data the way an in-chart box can.
fn draw_legend(area: &SvgArea<'_>, entries: &[(String, RGBColor)]) -> DrawResult {
    let style = ("sans-serif", 14).into_font().color(&BLACK);
    let mut x = 70;
    let y = (LEGEND_ROW / 2) as i32;
    for (name, color) in entries {
        area.draw(&Rectangle::new(
            [(x, y - 6), (x + 14, y + 6)],
            color.filled(),
        ))?;
        area.draw(&Text::new(name.clone(), (x + 20, y - 7), style.clone()))?;
        x += 20 + 9 * name.chars().count() as i32 + 24;
    }
    Ok(())
}

/// Names in first-seen order.
fn ordered<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = Vec::new();
    for s in it {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// Median throughput per backend (bars) and per shape (groups), with the
/// min–max range of the timed marks as error bars. Drawn for the largest heap
/// size and first seed in `runs`, and for each backend its largest thread
/// count.
pub fn throughput_svg(runs: &[Run]) -> Result<String, BenchError> {
    let err = plot_err("throughput");
    let objects = runs.iter().map(|r| r.header.objects).max().unwrap_or(0);
    let seed = runs
        .iter()
        .find(|r| r.header.objects == objects)
        .and_then(|r| r.header.seed);
    let sel: Vec<&Run> = runs
        .iter()
        .filter(|r| r.header.objects == objects && r.header.seed == seed)
        .collect();
    let shapes = ordered(sel.iter().map(|r| r.header.shape.as_str()));
    let backends = ordered(sel.iter().map(|r| r.header.backend));
    // For each (shape, backend), the run at the largest thread count.
    let pick = |shape: &str, backend: &str| -> Option<&Run> {
        sel.iter()
            .filter(|r| r.header.shape == shape && r.header.backend == backend)
            .max_by_key(|r| r.threads)
            .copied()
    };
    let threads = sel
        .iter()
        .filter(|r| r.header.backend != Backend::CpuSerial.name())
        .map(|r| r.threads)
        .max();
    let nb = backends.len().max(1);
    // One slot per bar, plus an empty one between shape groups.
    let slots = (shapes.len() * (nb + 1)).max(2) - 1;
    let ymax = sel
        .iter()
        .map(|r| r.edges_per_s / 1e6)
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.2;
    let title = format!(
        "Median mark throughput, {objects} objects{}",
        threads.map_or(String::new(), |t| format!(", {t} threads"))
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, BAR_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let root = root.titled(&title, ("sans-serif", 22)).map_err(&err)?;
        let (legend, plot) = root.split_vertically(LEGEND_ROW);
        let entries: Vec<(String, RGBColor)> = backends
            .iter()
            .map(|b| (b.to_string(), backend_color(b)))
            .collect();
        draw_legend(&legend, &entries).map_err(&err)?;
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d((0..slots).into_segmented(), 0f64..ymax)
            .map_err(&err)?;
        let label_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(k) if k % (nb + 1) == (nb - 1) / 2 => shapes
                .get(k / (nb + 1))
                .map_or(String::new(), |s| s.to_string()),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(slots + 1)
            .x_label_formatter(&label_of)
            .y_desc("M edges/s (median; whiskers: min–max)")
            .x_desc("shape")
            .draw()
            .map_err(&err)?;
        for (j, &b) in backends.iter().enumerate() {
            let color = backend_color(b);
            let bars: Vec<(usize, &Run)> = shapes
                .iter()
                .enumerate()
                .filter_map(|(i, s)| pick(s, b).map(|r| (i * (nb + 1) + j, r)))
                .collect();
            chart
                .draw_series(bars.iter().map(|&(k, r)| {
                    let mut rect = Rectangle::new(
                        [
                            (SegmentValue::Exact(k), 0.0),
                            (SegmentValue::Exact(k + 1), r.edges_per_s_median / 1e6),
                        ],
                        color.filled(),
                    );
                    rect.set_margin(0, 0, 2, 2);
                    rect
                }))
                .map_err(&err)?;
            chart
                .draw_series(bars.iter().map(|&(k, r)| {
                    let e = r.header.edges as f64 / 1e6;
                    ErrorBar::new_vertical(
                        SegmentValue::CenterOf(k),
                        e / r.mark_max_s,
                        r.edges_per_s_median / 1e6,
                        e / r.mark_s,
                        BLACK.stroke_width(1),
                        6,
                    )
                }))
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// Median throughput against heap size, one panel per shape and one line per
/// backend and thread count; throughput is averaged over seeds. `None` when
/// `runs` hold fewer than two heap sizes.
pub fn scaling_svg(runs: &[Run]) -> Result<Option<String>, BenchError> {
    let err = plot_err("scaling");
    let mut sizes: Vec<u64> = runs.iter().map(|r| r.header.objects).collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.len() < 2 {
        return Ok(None);
    }
    let shapes = ordered(runs.iter().map(|r| r.header.shape.as_str()));
    let cols = shapes.len().clamp(1, 3);
    let rows = shapes.len().div_ceil(cols);
    let size = (
        PANEL_SIZE.0 * cols as u32,
        PANEL_SIZE.1 * rows as u32 + LEGEND_ROW + 40,
    );
    // One legend for every panel: the series are the same in each.
    let mut series: Vec<(usize, &str, usize)> = runs
        .iter()
        .map(|r| (backend_order(r.header.backend), r.header.backend, r.threads))
        .collect();
    series.sort_unstable();
    series.dedup();
    let entries: Vec<(String, RGBColor)> = series
        .iter()
        .map(|&(_, b, t)| (format!("{b} ×{t}"), backend_color(b)))
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let root = root
            .titled(
                "Median mark throughput against heap size",
                ("sans-serif", 22),
            )
            .map_err(&err)?;
        let (legend, grid) = root.split_vertically(LEGEND_ROW);
        draw_legend(&legend, &entries).map_err(&err)?;
        let panels = grid.split_evenly((rows, cols));
        for (shape, panel) in shapes.iter().zip(panels.iter()) {
            scaling_panel(panel, runs, shape, &sizes).map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(Some(svg))
}

type SvgArea<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn backend_order(name: &str) -> usize {
    ALL.iter()
        .position(|b| b.name() == name)
        .unwrap_or(ALL.len())
}

fn scaling_panel(area: &SvgArea<'_>, runs: &[Run], shape: &str, sizes: &[u64]) -> DrawResult {
    // (backend, threads) -> objects -> throughputs over seeds.
    let mut series: BTreeMap<(usize, &str, usize), BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.header.shape == shape) {
        series
            .entry((backend_order(r.header.backend), r.header.backend, r.threads))
            .or_default()
            .entry(r.header.objects)
            .or_default()
            .push(r.edges_per_s_median / 1e6);
    }
    let (lo, hi) = (
        sizes.first().copied().unwrap_or(1),
        sizes.last().copied().unwrap_or(1),
    );
    let ymax = series
        .values()
        .flat_map(|m| m.values().flatten())
        .fold(0.0f64, |a, &b| a.max(b))
        .max(1e-3)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(shape, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(52)
        .build_cartesian_2d(
            (lo as f64 * 0.8..hi as f64 * 1.25)
                .log_scale()
                .with_key_points(sizes.iter().map(|&s| s as f64).collect()),
            0f64..ymax,
        )?;
    chart
        .configure_mesh()
        .x_desc("objects")
        .y_desc("M edges/s (median)")
        .x_label_formatter(&|x| format_count(*x))
        .draw()?;
    for ((_, backend, _), points) in &series {
        let color = backend_color(backend);
        let pts: Vec<(f64, f64)> = points
            .iter()
            .map(|(&o, v)| (o as f64, v.iter().sum::<f64>() / v.len() as f64))
            .collect();
        chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    Ok(())
}

/// A count for axis labels: exact binary multiples in short form
/// (65536 -> "64Ki", 4194304 -> "4Mi"), anything else as it is.
fn format_count(x: f64) -> String {
    let n = x.round() as u64;
    if n > 0 && n % (1 << 20) == 0 {
        format!("{}Mi", n >> 20)
    } else if n > 0 && n % 1024 == 0 {
        format!("{}Ki", n >> 10)
    } else {
        n.to_string()
    }
}

/// One GC cycle of a concurrent run, as the pacer and the sweep saw it.
///
/// Go counterparts: `heapLive`, `heapGoal` and the trigger of `gcControllerState`,
/// the time mutator goroutines spent parked in `gcParkAssist`, and what the
/// sweep freed (`mheap_.pagesSwept`, in objects here).
#[derive(Clone, Debug, PartialEq)]
pub struct CycleRecord {
    /// Cycle number (Go's `work.cycles`).
    pub cycle: u32,
    /// Live heap when the cycle ended, bytes.
    pub heap_live_bytes: u64,
    /// Largest heap during the cycle, bytes (to compare with the goal).
    pub heap_peak_bytes: u64,
    /// The cycle's heap goal, bytes.
    pub heap_goal_bytes: u64,
    /// Heap size at which the cycle was triggered, bytes.
    pub trigger_bytes: u64,
    /// Median time an assist spent parked, microseconds.
    pub assist_park_p50_us: f64,
    /// Longest time an assist spent parked, microseconds.
    pub assist_park_max_us: f64,
    /// Objects the sweep of the previous cycle's marks freed.
    pub swept_objects: u64,
    /// Object indices the arena had handed out when the cycle ended: its
    /// occupancy.
    pub arena_objects: u64,
}

impl From<&CycleStats> for CycleRecord {
    /// A cycle as the timeline plots it: park times in microseconds, the
    /// unit of its axis.
    fn from(s: &CycleStats) -> CycleRecord {
        CycleRecord {
            cycle: u32::try_from(s.cycle).unwrap_or(u32::MAX),
            heap_live_bytes: s.heap_after,
            heap_peak_bytes: s.heap_peak,
            heap_goal_bytes: s.heap_goal,
            trigger_bytes: s.trigger,
            assist_park_p50_us: s.park_p50_s * 1e6,
            assist_park_max_us: s.park_max_s * 1e6,
            swept_objects: s.swept_objects,
            arena_objects: s.arena_objects,
        }
    }
}

/// The timeline's points of a concurrent run's `cycles`.
pub fn timeline_points(cycles: &[CycleStats]) -> Vec<CycleRecord> {
    cycles.iter().map(CycleRecord::from).collect()
}

/// A heap-size line of the timeline: legend name, colour, field.
type HeapLine = (&'static str, RGBColor, fn(&CycleRecord) -> u64);
/// An assist-park line of the timeline: legend name, colour, field.
type ParkLine = (&'static str, RGBColor, fn(&CycleRecord) -> f64);
/// An object-count line of the timeline's lower panel: legend name, colour,
/// field.
type ObjectLine = (&'static str, RGBColor, fn(&CycleRecord) -> u64);

/// The timeline's heap sizes (left axis, MiB).
const HEAP_LINES: [HeapLine; 4] = [
    ("heap live", RGBColor(31, 119, 180), |r| r.heap_live_bytes),
    ("heap peak", RGBColor(255, 127, 14), |r| r.heap_peak_bytes),
    ("heap goal", RGBColor(44, 160, 44), |r| r.heap_goal_bytes),
    ("trigger", RGBColor(214, 39, 40), |r| r.trigger_bytes),
];

/// The timeline's assist park times (right axis, µs; dashed). The records
/// hold microseconds, the unit the axis is labelled in.
const PARK_LINES: [ParkLine; 2] = [
    ("assist park p50 (µs)", RGBColor(148, 103, 189), |r| {
        r.assist_park_p50_us
    }),
    ("assist park max (µs)", RGBColor(0, 0, 0), |r| {
        r.assist_park_max_us
    }),
];

/// The lower panel's object counts.
const OBJECT_LINES: [ObjectLine; 2] = [
    ("swept objects", RGBColor(23, 190, 207), |r| r.swept_objects),
    ("arena occupancy (objects)", RGBColor(140, 86, 75), |r| {
        r.arena_objects
    }),
];

/// The colour of the arena's capacity line.
const CAPACITY_COLOR: RGBColor = RGBColor(127, 127, 127);

/// An object count for axis labels: 1.5M, 250K, 900.
fn format_objects(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.0}K", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// The per-cycle timeline of a concurrent run (`run` says which, in the
/// title). Upper panel: heap live, peak, goal and trigger (MiB, left axis)
/// and assist park times (µs, right axis). Lower panel: objects the sweep
/// freed and the arena's occupancy per cycle, with the arena's object
/// capacity (`arena_capacity`) as a dashed line when given.
pub fn timeline_svg(
    run: &str,
    records: &[CycleRecord],
    arena_capacity: Option<u64>,
) -> Result<String, BenchError> {
    let err = plot_err("timeline");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, TIMELINE_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let title = match run {
            "" => "Pacer timeline per GC cycle".to_string(),
            _ => format!("Pacer timeline per GC cycle: {run}"),
        };
        let root = root.titled(&title, ("sans-serif", 18)).map_err(&err)?;
        let (upper, lower) = root.split_vertically(TIMELINE_SIZE.1 - 30 - TIMELINE_LOWER);
        timeline_pacer(&upper, records).map_err(&err)?;
        timeline_arena(&lower, records, arena_capacity).map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// A cycle number on the x axis; ticks between cycles get no label.
fn cycle_label(x: &f64) -> String {
    match (x - x.round()).abs() < 1e-6 {
        true => format!("{x:.0}"),
        false => String::new(),
    }
}

/// Labels on the cycle axis: one per cycle, at most 12.
fn cycle_labels(xr: &std::ops::Range<f64>) -> usize {
    ((xr.end - xr.start) as usize + 1).min(12)
}

/// The cycles' range on the x axis (at least one cycle wide).
fn cycle_range(records: &[CycleRecord]) -> std::ops::Range<f64> {
    let first = records.iter().map(|r| r.cycle).min().unwrap_or(0);
    let last = records
        .iter()
        .map(|r| r.cycle)
        .max()
        .unwrap_or(0)
        .max(first + 1);
    f64::from(first)..f64::from(last)
}

/// The timeline's upper panel: heap sizes and assist park times.
fn timeline_pacer(area: &SvgArea<'_>, records: &[CycleRecord]) -> DrawResult {
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let ymax = records
        .iter()
        .map(|r| HEAP_LINES.iter().map(|l| mib(l.2(r))).fold(0.0, f64::max))
        .fold(1e-3, f64::max)
        * 1.15;
    // At least 1 µs, so that a run without parks still gets an axis.
    let pmax = records
        .iter()
        .map(|r| r.assist_park_max_us.max(r.assist_park_p50_us))
        .fold(1.0, f64::max)
        * 1.15;
    let xr = cycle_range(records);
    let labels = cycle_labels(&xr);
    let (legend, plot) = area.split_vertically(LEGEND_ROW);
    let entries: Vec<(String, RGBColor)> = HEAP_LINES
        .iter()
        .map(|(n, c, _)| (n.to_string(), *c))
        .chain(PARK_LINES.iter().map(|(n, c, _)| (n.to_string(), *c)))
        .collect();
    draw_legend(&legend, &entries)?;
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .right_y_label_area_size(64)
        .build_cartesian_2d(xr.clone(), 0f64..ymax)?
        .set_secondary_coord(xr, 0f64..pmax);
    chart
        .configure_mesh()
        .x_desc("GC cycle")
        .y_desc("heap (MiB)")
        .x_labels(labels)
        .x_label_formatter(&cycle_label)
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("assist park (µs)")
        .y_label_formatter(&|y| match pmax < 10.0 {
            true => format!("{y:.1}"),
            false => format!("{y:.0}"),
        })
        .draw()?;
    for &(_, color, field) in &HEAP_LINES {
        chart.draw_series(LineSeries::new(
            records.iter().map(|r| (f64::from(r.cycle), mib(field(r)))),
            color.stroke_width(2),
        ))?;
    }
    for &(_, color, field) in &PARK_LINES {
        let pts: Vec<(f64, f64)> = records
            .iter()
            .map(|r| (f64::from(r.cycle), field(r)))
            .collect();
        chart.draw_secondary_series(DashedLineSeries::new(
            pts.clone(),
            6,
            4,
            color.stroke_width(1),
        ))?;
        chart.draw_secondary_series(
            pts.into_iter()
                .map(|p| TriangleMarker::new(p, 4, color.filled())),
        )?;
    }
    Ok(())
}

/// The timeline's lower panel: the sweep and the arena's occupancy.
fn timeline_arena(
    area: &SvgArea<'_>,
    records: &[CycleRecord],
    arena_capacity: Option<u64>,
) -> DrawResult {
    let ymax = records
        .iter()
        .map(|r| r.swept_objects.max(r.arena_objects))
        .chain(arena_capacity)
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.1;
    let xr = cycle_range(records);
    let labels = cycle_labels(&xr);
    let (legend, plot) = area.split_vertically(LEGEND_ROW);
    let mut entries: Vec<(String, RGBColor)> = OBJECT_LINES
        .iter()
        .map(|(n, c, _)| (n.to_string(), *c))
        .collect();
    if arena_capacity.is_some() {
        entries.push(("arena capacity".to_string(), CAPACITY_COLOR));
    }
    draw_legend(&legend, &entries)?;
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .right_y_label_area_size(64)
        .build_cartesian_2d(xr.clone(), 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("GC cycle")
        .y_desc("objects")
        .x_labels(labels)
        .x_label_formatter(&cycle_label)
        .y_label_formatter(&|y| format_objects(*y))
        .draw()?;
    for &(_, color, field) in &OBJECT_LINES {
        chart.draw_series(LineSeries::new(
            records
                .iter()
                .map(|r| (f64::from(r.cycle), field(r) as f64)),
            color.stroke_width(2),
        ))?;
    }
    if let Some(cap) = arena_capacity {
        chart.draw_series(DashedLineSeries::new(
            [(xr.start, cap as f64), (xr.end, cap as f64)],
            8,
            4,
            CAPACITY_COLOR.stroke_width(1),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_run;

    fn runs() -> Vec<Run> {
        let mut v = Vec::new();
        for objects in [1000u64, 100_000] {
            for shape in ["random", "list"] {
                for (b, eps) in [("cpu-serial", 1e8), ("cpu", 2e8), ("bfs", 1.5e8)] {
                    v.push(sample_run(b, shape, objects, eps));
                }
            }
        }
        v
    }

    #[test]
    fn timeline_records_park_times_in_microseconds() {
        let r = CycleRecord::from(&CycleStats {
            cycle: 7,
            heap_after: 10,
            heap_peak: 30,
            heap_goal: 32,
            trigger: 20,
            park_p50_s: 250e-6,
            park_max_s: 2e-3,
            swept_objects: 400,
            arena_objects: 900,
            ..CycleStats::default()
        });
        assert_eq!(r.cycle, 7);
        assert_eq!(
            (
                r.heap_live_bytes,
                r.heap_peak_bytes,
                r.heap_goal_bytes,
                r.trigger_bytes
            ),
            (10, 30, 32, 20)
        );
        assert!((r.assist_park_p50_us - 250.0).abs() < 1e-9);
        assert!((r.assist_park_max_us - 2000.0).abs() < 1e-9);
        assert_eq!((r.swept_objects, r.arena_objects), (400, 900));
    }

    #[test]
    fn throughput_svg_has_bars_and_labels() {
        let svg = throughput_svg(&runs()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("<rect"));
        for label in ["random", "list", "cpu-serial", "bfs", "100000 objects"] {
            assert!(svg.contains(label), "missing {label}");
        }
    }

    #[test]
    fn scaling_svg_needs_two_sizes() {
        let svg = scaling_svg(&runs()).unwrap().unwrap();
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "no lines"
        );
        assert!(svg.contains("cpu ×2"));
        let one: Vec<Run> = runs()
            .into_iter()
            .filter(|r| r.header.objects == 1000)
            .collect();
        assert!(scaling_svg(&one).unwrap().is_none());
    }

    #[test]
    fn timeline_svg_is_not_empty() {
        let records: Vec<CycleRecord> = (1..=8)
            .map(|c| CycleRecord {
                cycle: c,
                heap_live_bytes: (40 + 3 * u64::from(c)) << 20,
                heap_peak_bytes: (90 + u64::from(c)) << 20,
                heap_goal_bytes: 96 << 20,
                trigger_bytes: 80 << 20,
                assist_park_p50_us: 12.0 * f64::from(c),
                assist_park_max_us: 90.0 + f64::from(c),
                swept_objects: 400_000 + 1000 * u64::from(c),
                arena_objects: 850_000,
            })
            .collect();
        let svg = timeline_svg("random, 2 mutators", &records, Some(3_400_000)).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.len() > 2000, "{} bytes", svg.len());
        for label in [
            "heap live",
            "heap peak",
            "heap goal",
            "trigger",
            "assist park max (µs)",
            "assist park (µs)",
            "swept objects",
            "arena occupancy",
            "arena capacity",
            "3.0M",
            "random, 2 mutators",
        ] {
            assert!(svg.contains(label), "missing {label}");
        }
        // An empty run still draws axes rather than failing.
        let empty = timeline_svg("", &[], None).unwrap();
        assert!(empty.starts_with("<svg") && !empty.contains("arena capacity"));
    }

    #[test]
    fn object_counts_are_short() {
        assert_eq!(format_objects(3_400_000.0), "3.4M");
        assert_eq!(format_objects(250_000.0), "250K");
        assert_eq!(format_objects(900.0), "900");
    }

    #[test]
    fn counts_are_short() {
        assert_eq!(format_count(65536.0), "64Ki");
        assert_eq!(format_count(4194304.0), "4Mi");
        assert_eq!(format_count(1.5 * 1048576.0), "1536Ki");
        assert_eq!(format_count(32000.0), "32000");
    }
}
