//! `perplex watch` over a TensorBoard event directory, frame by frame.

use std::collections::BTreeSet;

use anyhow::Result;
use perplex_monitor::watch::tensorboard::{
    EventDir, Scalar, Tags, choose_tags, is_event_dir, rows,
};

use super::args::WatchArgs;
use super::report::Watch;

/// Reads a TensorBoard event directory; returns the validation tag looked for.
pub fn watch_events(args: &WatchArgs, watch: &mut Watch) -> Result<String> {
    let shown = args.log.display().to_string();
    anyhow::ensure!(
        args.follow || is_event_dir(&args.log),
        "{shown} holds no TensorBoard event files (events.out.tfevents.*)"
    );
    println!(
        "reading {shown} as TensorBoard events, losses in {}",
        watch.unit
    );
    let mut events = EventDir::new(&args.log);
    let (mut seen, mut pending, mut tags) = (BTreeSet::new(), Vec::<Scalar>::new(), None);
    loop {
        let new = events.read_new().map_err(|e| anyhow::anyhow!(e.reason))?;
        seen.extend(new.iter().map(|s| s.tag.clone()));
        pending.extend(new);
        let seen_list: Vec<String> = seen.iter().cloned().collect();
        match choose_tags(
            &seen_list,
            args.train_tag.as_deref(),
            args.val_tag.as_deref(),
        ) {
            Ok(chosen) => {
                let merged = keep_chosen(tags.take(), chosen);
                tags = Some(merged);
            }
            // A followed log may not have written its losses yet.
            Err(_) if args.follow => {}
            Err(e) => anyhow::bail!("{shown}: {e}"),
        }
        if let Some(tags) = &tags {
            rows(&pending, tags).into_iter().for_each(|r| watch.row(r));
            pending.clear();
        }
        if !args.follow || !watch.wait() {
            let val = tags.and_then(|t| t.val);
            let found: Vec<&String> = seen.iter().collect();
            return Ok(match val.or(args.val_tag.clone()) {
                Some(tag) => format!("the tag `{tag}`"),
                None => format!(
                    "no validation tag among the scalar tags found, {found:?}; --val-tag names it"
                ),
            });
        }
    }
}

/// Keeps the tags already chosen, filling in those found since (and saying so).
fn keep_chosen(old: Option<Tags>, new: Tags) -> Tags {
    let old_tags = old.clone();
    let tags = match old {
        None => new,
        Some(old) => Tags {
            train: old.train.or(new.train),
            val: old.val.or(new.val),
            train_eval: old.train_eval.or(new.train_eval),
            lr: old.lr.or(new.lr),
        },
    };
    if old_tags.as_ref() != Some(&tags) {
        let name =
            |t: &Option<String>| t.as_deref().map_or("none yet".into(), |t| format!("`{t}`"));
        println!(
            "tags: train loss {}, val loss {}",
            name(&tags.train),
            name(&tags.val)
        );
    }
    tags
}
