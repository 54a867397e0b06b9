//! SVG charts of a run, drawn with `plotters` (SVG backend only, no fonts
//! needed): grouped bars, one group per workload (or message size), one bar
//! per system, on a log scale because the systems differ by 10x and more.

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

/// One bar series: a system and its value in every group (`None`: not measured).
pub type Series = (String, Vec<Option<f64>>);

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws one panel of grouped bars into `area`.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[Series],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let vals = series.iter().flat_map(|s| s.1.iter().flatten().copied());
    let (lo, hi) = vals.fold((f64::INFINITY, 0f64), |(a, b), v| (a.min(v), b.max(v)));
    anyhow::ensure!(hi > 0.0, "nothing to draw for {title}");
    let (lo, hi) = (
        10f64.powf((lo.max(1e-3)).log10().floor()),
        10f64.powf(hi.log10().ceil()),
    );
    let n = groups.len();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, (lo..hi).log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let names = groups.to_vec();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n * 2 + 1)
        .x_label_formatter(&move |x| {
            let i = (*x - 0.5).round();
            if (*x - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        })
        .y_desc(y_label)
        .y_label_formatter(&|y| short(*y))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let k = series.len() as f64;
    for (si, (name, ys)) in series.iter().enumerate() {
        let color = COLORS[si % COLORS.len()];
        let bars = ys.iter().enumerate().filter_map(|(g, y)| {
            let y = (*y)?;
            let x0 = g as f64 + 0.1 + 0.8 * si as f64 / k;
            Some(Rectangle::new([(x0, lo), (x0 + 0.8 / k * 0.9, y)], color.filled()))
        });
        chart
            .draw_series(bars)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

fn short(y: f64) -> String {
    match y {
        y if y >= 1e6 => format!("{}M", y / 1e6),
        y if y >= 1e3 => format!("{}k", y / 1e3),
        y => format!("{y}"),
    }
}

/// Writes an SVG of one or more panels stacked vertically.
pub fn write_svg(path: &Path, panels: &[(String, String, Vec<String>, Vec<Series>)]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 360 * panels.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    for (area, (title, y, groups, series)) in root.split_evenly((panels.len(), 1)).iter().zip(panels) {
        panel(area, title, y, groups, series)?;
    }
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Groups (in the order first seen) and one series per system of `field`
/// from the lines of `kind`, the group named by `group`.
pub fn series_of(
    lines: &[Value],
    kind: &str,
    group: &dyn Fn(&Value) -> String,
    field: &str,
) -> (Vec<String>, Vec<Series>) {
    let mine: Vec<&Value> = lines.iter().filter(|l| l["kind"] == kind).collect();
    let mut groups: Vec<String> = vec![];
    let mut systems: Vec<String> = vec![];
    for l in &mine {
        let (g, s) = (group(l), l["system"].as_str().unwrap_or("").to_string());
        if !groups.contains(&g) {
            groups.push(g);
        }
        if !systems.contains(&s) {
            systems.push(s);
        }
    }
    let series = systems
        .iter()
        .map(|s| {
            let ys = groups
                .iter()
                .map(|g| {
                    let xs: Vec<f64> = mine
                        .iter()
                        .filter(|l| l["system"] == s.as_str() && &group(l) == g)
                        .filter_map(|l| l[field].as_f64())
                        .collect();
                    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
                })
                .collect();
            (s.clone(), ys)
        })
        .collect();
    (groups, series)
}

/// Writes every chart `lines` has data for, named `<base>-calls.svg`,
/// `<base>-instructions.svg`, `<base>-big.svg`, `<base>-fanout.svg`, `<base>-scale.svg`; returns the paths written.
pub fn charts_for(lines: &[Value], base: &str) -> anyhow::Result<Vec<String>> {
    let mut written = vec![];
    let workload = |l: &Value| l["workload"].as_str().unwrap_or("").to_string();
    let mut emit = |suffix: &str, panels: Vec<(String, String, Vec<String>, Vec<Series>)>| -> anyhow::Result<()> {
        let panels: Vec<_> = panels.into_iter().filter(|p| !p.2.is_empty()).collect();
        if !panels.is_empty() {
            let path = format!("{base}-{suffix}.svg");
            write_svg(Path::new(&path), &panels)?;
            written.push(path);
        }
        Ok(())
    };
    let (g, s) = series_of(lines, "summary", &workload, "calls_per_s");
    emit(
        "calls",
        vec![(
            "calls/s per workload (median of repeats)".into(),
            "calls/s".into(),
            g,
            s,
        )],
    )?;
    let side = |f: &str, title: &str| {
        let (g, s) = series_of(lines, "cost", &workload, f);
        (title.to_string(), "instructions per call".to_string(), g, s)
    };
    emit(
        "instructions",
        vec![
            side(
                "server_ir_per_call",
                "server: user-space instructions per call (valgrind)",
            ),
            side(
                "client_ir_per_call",
                "client: user-space instructions per call (valgrind)",
            ),
        ],
    )?;
    let size = |l: &Value| {
        let b = l["bytes"].as_u64().unwrap_or(0);
        if b >= 1 << 20 {
            format!("{} MiB", b >> 20)
        } else {
            format!("{} KiB", b >> 10)
        }
    };
    let (g, s) = series_of(lines, "big_summary", &size, "mib_per_s");
    emit("big", vec![("echo of big params: MiB/s".into(), "MiB/s".into(), g, s)])?;
    let conns = |l: &Value| format!("{} connections", l["conns"]);
    let (g, s) = series_of(lines, "fanout_curve", &conns, "deliveries_per_s");
    emit(
        "fanout",
        vec![(
            "notify_all flat out: deliveries/s by connection count".into(),
            "deliveries/s".into(),
            g,
            s,
        )],
    )?;
    let state = |l: &Value| format!("{} {}", l["conns"], l["state"].as_str().unwrap_or(""));
    let (g, s) = series_of(lines, "scale_memory", &state, "kib_per_conn");
    let (ga, sa) = series_of(lines, "scale", &|l| format!("{} conns", l["conns"]), "accept_per_s");
    emit(
        "scale",
        vec![
            (
                "bench scale: server memory per connection (idle, after one call each, after the broadcast)".into(),
                "KiB per connection".into(),
                g,
                s,
            ),
            (
                "bench scale: connections accepted per second".into(),
                "connections/s".into(),
                ga,
                sa,
            ),
        ],
    )?;
    Ok(written)
}

/// `bench chart FILE.jsonl ...`: the charts of saved runs, next to each file.
pub fn chart_cmd(args: &crate::Args) -> anyhow::Result<()> {
    anyhow::ensure!(!args.pos.is_empty(), "usage: bench chart FILE.jsonl ...");
    for path in &args.pos {
        let lines: Vec<Value> = std::fs::read_to_string(path)?
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        for p in charts_for(&lines, path.trim_end_matches(".jsonl"))? {
            eprintln!("wrote {p}");
        }
    }
    Ok(())
}

/// [`charts_for`] in a run: a chart that cannot be drawn is reported, not fatal.
pub fn charts_after_run(lines: &[Value], base: &str) {
    match charts_for(lines, base) {
        Ok(ps) => ps.iter().for_each(|p| eprintln!("chart written to {p}")),
        Err(e) => eprintln!("charts not written: {e:#}"),
    }
}
