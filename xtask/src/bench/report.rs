//! The benchmark's table: medians per scenario and target, ratios against the reference
//! (echo, idle connections) or the original Copas (the rest), and the targets.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::json;
use super::{
    Cell, Kind, Outcome, Scenario, ScenarioResult, Settings, Target, TargetKind, QUIET_LOAD,
};

#[derive(Clone, Copy, Debug)]
enum Aggregate {
    Median,
    Min,
    Max,
}

/// A goal (issues #6 and #18), judged on the lua54 and runner columns.
#[derive(Clone, Copy, Debug)]
enum Goal {
    /// At least this share of the reference's figure.
    RefShare(f64),
    /// Every connection answered in the measured window, and RefShare.
    AllServedRefShare(f64),
    /// At least `factor` times the original (its BASELINE.md figure, if it has one,
    /// when not measured).
    OriginalTimes {
        factor: f64,
        fallback: Option<f64>,
    },
    /// At least this share of another target's figure (luv, plain Lua).
    PeerShare {
        peer: TargetKind,
        share: f64,
    },
    AtLeast(f64),
    Below(f64),
    /// No more than the original (its BASELINE.md figure, if it has one, when not
    /// measured).
    NoMoreThanOriginal {
        fallback: Option<f64>,
    },
}

impl Goal {
    fn describe(self) -> String {
        match self {
            Goal::RefShare(share) => format!("≥ {:.0} % of ref", share * 100.0),
            Goal::AllServedRefShare(share) => {
                format!("all served, ≥ {:.0} % of ref", share * 100.0)
            }
            Goal::OriginalTimes { factor, fallback } => match fallback {
                Some(fallback) => format!(
                    "≥ {factor}× original ({} in BASELINE.md if not run)",
                    group(fallback, 0)
                ),
                None => format!("≥ {factor}× original"),
            },
            Goal::PeerShare { peer, share } => {
                if share < 1.0 {
                    format!("≥ {:.0} % of {}", share * 100.0, peer.name())
                } else {
                    format!("≥ {share}× {}", peer.name())
                }
            }
            Goal::AtLeast(value) => format!("≥ {}", group(value, 0)),
            Goal::Below(value) => format!("< {value}"),
            Goal::NoMoreThanOriginal { fallback } => match fallback {
                Some(fallback) => format!("≤ original ({fallback} in BASELINE.md if not run)"),
                None => "≤ original".into(),
            },
        }
    }
}

#[derive(Debug)]
struct Row {
    label: &'static str,
    key: &'static str,
    aggregate: Aggregate,
    decimals: usize,
    /// Show each target's ratio to the scenario's base (ref or original).
    ratio: bool,
    /// Every one must be met.
    goals: &'static [Goal],
}

const fn row(label: &'static str, key: &'static str, decimals: usize) -> Row {
    Row {
        label,
        key,
        aggregate: Aggregate::Median,
        decimals,
        ratio: false,
        goals: &[],
    }
}

fn rows(scenario: &Scenario) -> Vec<Row> {
    let primary = |label, key, decimals, goals| Row {
        ratio: true,
        goals,
        ..row(label, key, decimals)
    };
    match scenario.kind {
        Kind::Echo { .. } => {
            const LUV: TargetKind = TargetKind::Luv;
            let goals: &'static [Goal] = match scenario.name {
                "echo-10" => &[
                    Goal::RefShare(0.95),
                    Goal::PeerShare {
                        peer: LUV,
                        share: 1.0,
                    },
                ],
                "echo-100" | "echo-1000" => &[
                    Goal::RefShare(0.90),
                    Goal::PeerShare {
                        peer: LUV,
                        share: 1.1,
                    },
                ],
                "echo-5000" | "echo-10000" => &[Goal::AllServedRefShare(0.80)],
                "echo-100-b16" => &[Goal::OriginalTimes {
                    factor: 4.0,
                    fallback: Some(165_273.0),
                }],
                _ => &[],
            };
            vec![
                primary("msgs/s", "msgs_per_s", 0, goals),
                row("p50 µs", "p50_us", 0),
                row("p99 µs", "p99_us", 0),
                row("p99.9 µs", "p999_us", 0),
                Row {
                    aggregate: Aggregate::Min,
                    ..row("served (min)", "served", 0)
                },
            ]
        }
        Kind::IdleConns { .. } => vec![primary(
            "KiB/conn (RSS)",
            "kib_per_conn",
            2,
            &[Goal::NoMoreThanOriginal { fallback: None }],
        )],
        Kind::Timers { .. } => {
            let big = scenario.name == "timers-10000";
            vec![
                primary(
                    "wakeups/s",
                    "wakeups_per_s",
                    0,
                    if big {
                        &[Goal::AtLeast(950_000.0)]
                    } else {
                        &[]
                    },
                ),
                Row {
                    goals: if big { &[Goal::Below(0.5)] } else { &[] },
                    ..row("late mean ms", "late_mean_ms", 3)
                },
            ]
        }
        Kind::Spawn { .. } => vec![
            primary(
                "threads/s",
                "total_per_s",
                0,
                &[Goal::PeerShare {
                    peer: TargetKind::Plain,
                    share: 0.8,
                }],
            ),
            Row {
                goals: &[Goal::NoMoreThanOriginal {
                    fallback: Some(1.2),
                }],
                ..row("KiB/thread (RSS)", "rss_kib_per_thread", 2)
            },
            row("KiB/thread (Lua heap)", "heap_kib_per_thread", 2),
        ],
        Kind::Http { keep_alive } => vec![
            primary(
                "req/s",
                "req_per_s",
                0,
                if keep_alive {
                    &[Goal::OriginalTimes {
                        factor: 3.0,
                        fallback: None,
                    }]
                } else {
                    &[Goal::OriginalTimes {
                        factor: 2.0,
                        fallback: Some(9055.0),
                    }]
                },
            ),
            Row {
                aggregate: Aggregate::Max,
                ..row("failed (max)", "failed", 0)
            },
        ],
        Kind::TlsEcho => vec![
            primary(
                "lines/s",
                "msgs_per_s",
                0,
                &[Goal::OriginalTimes {
                    factor: 2.0,
                    fallback: None,
                }],
            ),
            Row {
                aggregate: Aggregate::Max,
                ..row("failed (max)", "failed", 0)
            },
        ],
    }
}

/// The target a scenario's ratios are taken against.
fn base(kind: Kind) -> TargetKind {
    match kind {
        Kind::Echo { .. } | Kind::IdleConns { .. } => TargetKind::Reference,
        _ => TargetKind::Original,
    }
}

fn aggregate(cell: &Cell, key: &str, how: Aggregate) -> Option<f64> {
    let mut values: Vec<f64> = cell
        .runs
        .iter()
        .filter_map(|run| match run {
            Outcome::Measured(figures) => figures.get(key).copied(),
            _ => None,
        })
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(match how {
        Aggregate::Median => {
            let mid = values.len() / 2;
            if values.len() % 2 == 1 {
                values[mid]
            } else {
                (values[mid - 1] + values[mid]) / 2.0
            }
        }
        Aggregate::Min => values[0],
        Aggregate::Max => values[values.len() - 1],
    })
}

fn cell_of(result: &ScenarioResult, target: TargetKind) -> Option<&Cell> {
    result.cells.iter().find(|c| c.target == target)
}

fn value(result: &ScenarioResult, target: TargetKind, row: &Row) -> Option<f64> {
    cell_of(result, target).and_then(|cell| aggregate(cell, row.key, row.aggregate))
}

/// Whether `target` meets `goal` on `row`; None when it cannot be judged.
fn judge(result: &ScenarioResult, target: TargetKind, row: &Row, goal: Goal) -> Option<bool> {
    let mine = value(result, target, row)?;
    let of = |other| value(result, other, row);
    Some(match goal {
        Goal::RefShare(share) => mine >= share * of(TargetKind::Reference)?,
        Goal::AllServedRefShare(share) => {
            let Kind::Echo { conns, .. } = result.scenario.kind else {
                return None;
            };
            let served = cell_of(result, target)
                .and_then(|cell| aggregate(cell, "served", Aggregate::Min))?;
            served >= conns as f64 && mine >= share * of(TargetKind::Reference)?
        }
        Goal::OriginalTimes { factor, fallback } => {
            mine >= factor * of(TargetKind::Original).or(fallback)?
        }
        Goal::PeerShare { peer, share } => mine >= share * of(peer)?,
        Goal::AtLeast(least) => mine >= least,
        Goal::Below(limit) => mine < limit,
        Goal::NoMoreThanOriginal { fallback } => mine <= of(TargetKind::Original).or(fallback)?,
    })
}

/// `value` with `decimals` decimals and thousands separated by commas.
fn group(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    for (i, digit) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if value < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// Why a cell has no figure: the first skip or failure of its runs.
fn missing(cell: &Cell) -> Option<(&'static str, &str)> {
    cell.runs.iter().find_map(|run| match run {
        Outcome::Skipped(why) => Some(("n/a", why.as_str())),
        Outcome::Failed(why) => Some(("failed", why.as_str())),
        Outcome::Measured(_) => None,
    })
}

/// One line per run for the progress output.
pub(super) fn summary(scenario: &Scenario, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Skipped(why) => format!("n/a ({why})"),
        Outcome::Failed(why) => format!("FAILED ({why})"),
        Outcome::Measured(figures) => rows(scenario)
            .iter()
            .filter_map(|row| {
                let value = figures.get(row.key)?;
                Some(format!("{} {}", group(*value, row.decimals), row.label))
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The side-by-side table, Markdown, with notes for the cells without figures.
pub(super) fn markdown(results: &[ScenarioResult], targets: &[TargetKind]) -> String {
    let mut out = String::from("| scenario | metric |");
    for target in targets {
        let _ = write!(out, " {} |", target.name());
    }
    out.push_str(" target | met (lua54 / runner) |\n|---|---|");
    out.push_str(&"---:|".repeat(targets.len()));
    out.push_str("---|---|\n");
    let mut notes: Vec<String> = Vec::new();
    for result in results {
        let scenario = result.scenario;
        let base_target = base(scenario.kind);
        for (index, row) in rows(scenario).iter().enumerate() {
            let name = if index == 0 { scenario.name } else { "" };
            let _ = write!(out, "| {name} | {} |", row.label);
            let base_value = value(result, base_target, row);
            for &target in targets {
                let text = match cell_of(result, target) {
                    None => "–".to_string(),
                    Some(cell) => match aggregate(cell, row.key, row.aggregate) {
                        Some(v) => {
                            let mut text = group(v, row.decimals);
                            if let Scenario {
                                kind: Kind::Echo { conns, .. },
                                ..
                            } = scenario
                            {
                                if row.key == "served" {
                                    let _ = write!(text, "/{conns}");
                                    if aggregate(cell, "server_died", Aggregate::Max) == Some(1.0) {
                                        text.push_str(" (server died)");
                                    }
                                }
                            }
                            match base_value {
                                Some(b) if row.ratio && target != base_target && b > 0.0 => {
                                    let _ = write!(text, " ({:.2}×)", v / b);
                                }
                                _ => {}
                            }
                            text
                        }
                        None => match missing(cell) {
                            Some((word, why)) => {
                                if index == 0 {
                                    notes.push(format!(
                                        "{} on {}: {word}: {why}",
                                        scenario.name,
                                        target.name()
                                    ));
                                }
                                word.to_string()
                            }
                            None => "–".to_string(),
                        },
                    },
                };
                let _ = write!(out, " {text} |");
            }
            let goal_text: Vec<String> = row.goals.iter().map(|g| g.describe()).collect();
            let verdict = if row.goals.is_empty() {
                String::new()
            } else {
                let verdicts: Vec<&str> = [TargetKind::Lua54, TargetKind::Runner]
                    .into_iter()
                    .map(|target| {
                        let judged: Vec<_> = row
                            .goals
                            .iter()
                            .map(|&goal| judge(result, target, row, goal))
                            .collect();
                        if judged.contains(&Some(false)) {
                            "missed"
                        } else if judged.contains(&None) {
                            "n/a"
                        } else {
                            "met"
                        }
                    })
                    .collect();
                verdicts.join(" / ")
            };
            let goal_text = goal_text.join(", ");
            let _ = writeln!(out, " {goal_text} | {verdict} |");
        }
    }
    if !notes.is_empty() {
        out.push_str("\nCells without figures:\n\n");
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out.push_str(
        "\nRatios (×) are against `ref` for echo and idle connections, against `original` \
         elsewhere. `served`: connections that got at least one echo in the measured window.\n",
    );
    out
}

/// How many runs started while other processes kept the machine busy.
pub(super) fn noise(results: &[ScenarioResult], settings: &Settings, waited: Duration) -> String {
    let loads: Vec<f64> = results
        .iter()
        .flat_map(|result| &result.cells)
        .flat_map(|cell| &cell.runs)
        .filter_map(|run| match run {
            Outcome::Measured(figures) => figures.get("load_before_pct").copied(),
            _ => None,
        })
        .collect();
    let busy = loads.iter().filter(|&&load| load >= QUIET_LOAD).count();
    format!(
        "{busy} of {} runs started while other processes used ≥ {QUIET_LOAD:.0} % of a core \
         (each run waited up to {} s for quiet, {:.0} s of waiting in all).\n",
        loads.len(),
        settings.quiet_wait.as_secs(),
        waited.as_secs_f64()
    )
}

/// Every run's figures and the medians, for other tools.
pub(super) fn json(
    results: &[ScenarioResult],
    targets: &[Target],
    settings: &Settings,
    machine: &[String],
) -> String {
    let object = |figures: &BTreeMap<String, f64>| {
        let fields: Vec<String> = figures
            .iter()
            .map(|(k, v)| format!("{}:{}", json::escape(k), json::number(*v)))
            .collect();
        format!("{{{}}}", fields.join(","))
    };
    let mut out = String::from("{\"machine\":[");
    out.push_str(
        &machine
            .iter()
            .map(|m| json::escape(m))
            .collect::<Vec<_>>()
            .join(","),
    );
    let _ = write!(
        out,
        "],\"runs\":{},\"warmup_s\":{},\"duration_s\":{},\"targets\":{{",
        settings.runs,
        json::number(settings.warmup),
        json::number(settings.duration)
    );
    let described: Vec<String> = targets
        .iter()
        .map(|t| {
            let (key, text) = match &t.about {
                Ok(about) => ("about", about),
                Err(why) => ("unavailable", why),
            };
            format!(
                "{}:{{{}:{}}}",
                json::escape(t.kind.name()),
                json::escape(key),
                json::escape(text)
            )
        })
        .collect();
    out.push_str(&described.join(","));
    out.push_str("},\"scenarios\":[");
    let mut scenarios = Vec::new();
    for result in results {
        let mut cells = Vec::new();
        for cell in &result.cells {
            let runs: Vec<String> = cell
                .runs
                .iter()
                .map(|run| match run {
                    Outcome::Measured(figures) => object(figures),
                    Outcome::Skipped(why) => format!("{{\"skipped\":{}}}", json::escape(why)),
                    Outcome::Failed(why) => format!("{{\"failed\":{}}}", json::escape(why)),
                })
                .collect();
            let medians: BTreeMap<String, f64> = rows(result.scenario)
                .iter()
                .filter_map(|row| {
                    Some((
                        row.key.to_string(),
                        aggregate(cell, row.key, row.aggregate)?,
                    ))
                })
                .collect();
            cells.push(format!(
                "{}:{{\"summary\":{},\"runs\":[{}]}}",
                json::escape(cell.target.name()),
                object(&medians),
                runs.join(",")
            ));
        }
        scenarios.push(format!(
            "{{\"name\":{},\"results\":{{{}}}}}",
            json::escape(result.scenario.name),
            cells.join(",")
        ));
    }
    out.push_str(&scenarios.join(","));
    out.push_str("]}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::SCENARIOS;

    fn measured(pairs: &[(&str, f64)]) -> Outcome {
        Outcome::Measured(pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(1_234_567.0, 0), "1,234,567");
        assert_eq!(group(999.0, 0), "999");
        assert_eq!(group(0.1394, 3), "0.139");
        assert_eq!(group(-12_345.5, 1), "-12,345.5");
    }

    #[test]
    fn a_row_with_two_goals_is_met_only_when_both_are() {
        let scenario = SCENARIOS.iter().find(|s| s.name == "echo-100").unwrap();
        let cell = |target, msgs: f64| Cell {
            target,
            runs: vec![measured(&[("msgs_per_s", msgs), ("served", 100.0)])],
        };
        let result = ScenarioResult {
            scenario,
            cells: vec![
                // lua54: 120 ≥ 0.9 × 130 and ≥ 1.1 × 100; runner: below 1.1 × luv.
                cell(TargetKind::Lua54, 120.0),
                cell(TargetKind::Runner, 105.0),
                cell(TargetKind::Luv, 100.0),
                cell(TargetKind::Reference, 130.0),
            ],
        };
        let table = markdown(
            std::slice::from_ref(&result),
            &[
                TargetKind::Runner,
                TargetKind::Lua54,
                TargetKind::Luv,
                TargetKind::Reference,
            ],
        );
        assert!(
            table.contains("| ≥ 90 % of ref, ≥ 1.1× luv | met / missed |"),
            "{table}"
        );
    }

    #[test]
    fn medians_ratios_and_goals() {
        let scenario = SCENARIOS.iter().find(|s| s.name == "echo-5000").unwrap();
        let result = ScenarioResult {
            scenario,
            cells: vec![
                Cell {
                    target: TargetKind::Lua54,
                    runs: vec![
                        measured(&[("msgs_per_s", 90.0), ("served", 5000.0)]),
                        measured(&[("msgs_per_s", 85.0), ("served", 5000.0)]),
                        measured(&[("msgs_per_s", 10.0), ("served", 5000.0)]),
                    ],
                },
                Cell {
                    target: TargetKind::Runner,
                    runs: vec![measured(&[("msgs_per_s", 99.0), ("served", 4999.0)])],
                },
                Cell {
                    target: TargetKind::Reference,
                    runs: vec![measured(&[("msgs_per_s", 100.0), ("served", 5000.0)])],
                },
                Cell {
                    target: TargetKind::Original,
                    runs: vec![Outcome::Skipped("no Copas".into())],
                },
            ],
        };
        let table = markdown(
            std::slice::from_ref(&result),
            &[
                TargetKind::Runner,
                TargetKind::Lua54,
                TargetKind::Original,
                TargetKind::Reference,
            ],
        );
        assert!(
            table.contains("| echo-5000 | msgs/s | 99 (0.99×) | 85 (0.85×) | n/a | 100 |"),
            "{table}"
        );
        assert!(
            table.contains("| all served, ≥ 80 % of ref | met / missed |"),
            "{table}"
        );
        assert!(
            table.contains("echo-5000 on original: n/a: no Copas"),
            "{table}"
        );
        let parsed = json(
            &[result],
            &[],
            &Settings::new(&super::super::Options::parse(&[]).unwrap()),
            &[],
        );
        assert!(
            parsed.contains("\"lua54\":{\"summary\":{\"msgs_per_s\":85,"),
            "{parsed}"
        );
    }
}
