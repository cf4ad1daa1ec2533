use super::*;

/// `n` evaluations every `every` steps of `4 + 30·t^(−0.5)` nats, with a deterministic
/// wobble of `noise` nats.
fn curve(n: u64, every: u64, noise: f64) -> Vec<(u64, f64)> {
    (1..=n)
        .map(|i| {
            let t = i * every;
            let wobble = noise * if i % 2 == 0 { 1.0 } else { -1.0 };
            (t, 4.0 + 30.0 * (t as f64).powf(-0.5) + wobble)
        })
        .collect()
}

#[test]
fn a_noisy_power_law_is_forecast_within_its_interval() {
    let truth = 4.0 + 30.0 * 5000f64.powf(-0.5);
    let f = forecast(
        &curve(10, 100, 0.01),
        SignalKind::Healthy,
        Some(5000),
        None,
        Schedule::Own,
    );
    let p = f.projection().expect("a forecast");
    assert_eq!((p.step, p.points), (5000, 10));
    assert!(p.low <= truth && truth <= p.high, "{truth} outside {p:?}");
    assert!((p.val_loss - truth).abs() < 0.1, "{p:?}");
    assert!(
        p.high - p.low < 0.5,
        "an interval that says something: {p:?}"
    );
}

#[test]
fn the_target_step_inverts_the_fitted_curve() {
    let target = 4.0 + 30.0 * 2500f64.powf(-0.5);
    let f = forecast(
        &curve(8, 100, 0.0),
        SignalKind::Healthy,
        Some(5000),
        Some(target),
        Schedule::Own,
    );
    let outlook = f.projection().unwrap().target.clone().unwrap();
    let step = outlook.step.expect("reachable");
    assert!((2490..=2510).contains(&step), "{step}");
    let f = forecast(
        &curve(8, 100, 0.0),
        SignalKind::Healthy,
        Some(5000),
        Some(3.5),
        Schedule::Own,
    );
    assert_eq!(f.projection().unwrap().target.as_ref().unwrap().step, None);
}

#[test]
fn no_forecast_says_why() {
    let why = |f: Forecast| match f {
        Forecast::Unavailable { reason } => reason,
        Forecast::Fitted(p) => panic!("unexpected forecast {p:?}"),
    };
    let few = forecast(
        &curve(4, 100, 0.0),
        SignalKind::Healthy,
        Some(5000),
        None,
        Schedule::Own,
    );
    assert_eq!(why(few), NoForecast::TooFewEvaluations { have: 4, need: 5 });
    let rising = forecast(
        &curve(9, 100, 0.0),
        SignalKind::Diverging,
        Some(5000),
        None,
        Schedule::Own,
    );
    assert_eq!(
        why(rising),
        NoForecast::Rising {
            state: SignalKind::Diverging
        }
    );
    let open = forecast(
        &curve(9, 100, 0.0),
        SignalKind::Healthy,
        None,
        None,
        Schedule::Own,
    );
    assert_eq!(why(open), NoForecast::NoHorizon);
    let done = forecast(
        &curve(9, 100, 0.0),
        SignalKind::Healthy,
        Some(900),
        None,
        Schedule::Own,
    );
    assert_eq!(why(done), NoForecast::AtHorizon);
    // Flat with noise: whatever the fit, it cannot be trusted to extrapolate.
    let flat: Vec<(u64, f64)> = (1..=10)
        .map(|i| (i * 100, 5.0 + 0.05 * ((i * 7 % 5) as f64 - 2.0)))
        .collect();
    let reason = why(forecast(
        &flat,
        SignalKind::Plateau,
        Some(5000),
        None,
        Schedule::Own,
    ));
    assert!(
        matches!(reason, NoForecast::PoorFit { .. } | NoForecast::NotFalling),
        "{reason:?}"
    );
    assert!(reason.to_string().contains("fitted curve"), "{reason}");
}

#[test]
fn a_forecast_is_written_with_its_status_and_read_back() {
    let fitted = forecast(
        &curve(8, 100, 0.01),
        SignalKind::Healthy,
        Some(5000),
        Some(4.5),
        Schedule::Own,
    );
    let json = serde_json::to_string(&fitted).unwrap();
    assert!(
        json.starts_with(r#"{"status":"fitted","step":5000"#),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Forecast>(&json).unwrap(), fitted);
    let none = forecast(
        &curve(2, 100, 0.0),
        SignalKind::Healthy,
        Some(5000),
        None,
        Schedule::Own,
    );
    let json = serde_json::to_string(&none).unwrap();
    assert_eq!(
        json,
        r#"{"status":"unavailable","reason":{"why":"too_few_evaluations","have":2,"need":5}}"#
    );
    assert_eq!(serde_json::from_str::<Forecast>(&json).unwrap(), none);
}

#[test]
fn a_long_curve_is_thinned_to_the_most_fitted_and_still_forecast() {
    let long = curve(2000, 10, 0.005);
    let f = forecast(
        &long,
        SignalKind::Healthy,
        Some(50_000),
        None,
        Schedule::Own,
    );
    let p = f.projection().expect("a forecast");
    assert_eq!(p.points, MAX_FITTED);
    let truth = 4.0 + 30.0 * 50_000f64.powf(-0.5);
    assert!(p.low <= truth && truth <= p.high, "{truth} outside {p:?}");
}
