//! A scenario's repeated runs and how the suites sum them up: medians, and
//! the verdict printed next to each budget. Shared by the Phase-1 suite
//! (`suite`) and the lifecycle's (`lcsuite`).

use serde::Serialize;

use crate::report::RunReport;

#[derive(Serialize)]
pub struct Scenario {
    pub name: String,
    pub runs: Vec<RunReport>,
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn med(s: &Scenario, f: impl Fn(&RunReport) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = s.runs.iter().filter_map(f).collect();
    (!v.is_empty()).then(|| median(v))
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}
