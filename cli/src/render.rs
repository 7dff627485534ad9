//! Output: tables and key/value views for people, JSON for machines (`--json`).

use comfy_table::{Table, presets};
use sandboxer_core::api::ExtensionReport;
use sandboxer_core::operations::DestroyOutcome;
use sandboxer_core::store::{Event, SandboxRecord, SandboxUsage, SandboxView};
use sandboxer_core::time::{format_duration, now_ms, rfc3339};
use serde::Serialize;
use serde_json::json;
use std::io::{self, BufWriter, Stdout, Write};
use std::time::Duration;

/// Buffered stdout that knows the output format.
pub struct Out {
    json: bool,
    w: BufWriter<Stdout>,
    /// Reused for serializing one item of a long list.
    scratch: Vec<u8>,
}

/// Large enough that a long list goes out in few writes.
const OUT_BUFFER: usize = 1024 * 1024;

/// Widens stdout's pipe, when it is one, so that a long listing reaches its reader
/// in a few large writes instead of many 64 KiB round trips.
fn widen_stdout_pipe() {
    use std::os::fd::AsRawFd;
    let fd = io::stdout().as_raw_fd();
    // SAFETY: fcntl on our own stdout with integer arguments; failures are ignored
    // (not a pipe, or a limit lower than asked).
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, OUT_BUFFER as libc::c_int);
    }
}

impl Out {
    pub fn new(json: bool) -> Out {
        widen_stdout_pipe();
        Out {
            json,
            w: BufWriter::with_capacity(OUT_BUFFER, io::stdout()),
            scratch: Vec::new(),
        }
    }

    fn json<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut self.w, value)?;
        writeln!(self.w)?;
        self.w.flush()
    }

    fn line(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.w, "{text}")
    }

    fn table(&mut self, table: Table) -> io::Result<()> {
        for line in table.to_string().lines() {
            writeln!(self.w, "{}", line.trim_end())?;
        }
        self.w.flush()
    }

    /// A line as it is, in either format.
    pub fn line_raw(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.w, "{text}")?;
        self.w.flush()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    pub fn finish(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(header.to_vec());
    t
}

/// "in 1h 59m" / "2m ago".
fn relative(ms: i64) -> String {
    let delta = ms - now_ms();
    let span = format_duration(Duration::from_millis(delta.unsigned_abs()));
    if delta >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

pub fn sandbox(out: &mut Out, r: &SandboxRecord) -> io::Result<()> {
    sandbox_with_usage(out, r, None)
}

/// One sandbox with what it has cost so far (`get`).
pub fn sandbox_with_usage(
    out: &mut Out,
    r: &SandboxRecord,
    usage: Option<&SandboxUsage>,
) -> io::Result<()> {
    if out.json {
        let mut view = r.view();
        view.usage = usage.cloned();
        return out.json(&view);
    }
    let mut rows = vec![
        ("id", r.id.clone()),
        ("state", r.state.to_string()),
        (
            "profile",
            format!("{} (version {})", r.profile_id, r.profile_version),
        ),
        ("extension", r.extension.clone()),
        ("consumer", r.consumer.clone()),
        ("project", r.project.clone()),
    ];
    if let Some(host) = &r.host {
        rows.push(("host", host.clone()));
    }
    if let Some(backend_ref) = &r.backend_ref {
        rows.push(("backend ref", backend_ref.clone()));
    }
    rows.push(("created", rfc3339(r.created_at)));
    rows.push((
        "expires",
        format!("{} ({})", rfc3339(r.expires_at), relative(r.expires_at)),
    ));
    rows.push(("ceiling", rfc3339(r.ceiling_at)));
    rows.push((
        "cost rate",
        format!("{} {}/hour", r.cost_per_hour, r.currency),
    ));
    if let Some(u) = usage {
        rows.push((
            "cost so far",
            format!(
                "{} {} ({} s billed, as of {})",
                u.cost, u.currency, u.sandbox_seconds, u.as_of
            ),
        ));
    }
    if let Some(idle) = r.idle_ms {
        let last = r
            .last_activity_at
            .map_or("never used".into(), |t| format!("last used {}", rfc3339(t)));
        rows.push(("idle timeout", format!("{} s ({last})", idle / 1000)));
    }
    let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    rows.push(("labels", labels.join(", ")));
    for e in &r.endpoints {
        let target = e
            .url
            .clone()
            .unwrap_or_else(|| format!("{}:{}", e.host, e.port));
        let protocol = serde_json::to_value(e.protocol).unwrap_or_default();
        rows.push((
            "endpoint",
            format!("{} {} {target}", e.name, protocol.as_str().unwrap_or("")),
        ));
    }
    if let Some(replaces) = &r.replaces {
        rows.push(("replaces", replaces.clone()));
    }
    if let Some(replaced_by) = &r.replaced_by {
        rows.push(("replaced by", replaced_by.clone()));
    }
    if let Some(error) = &r.last_error {
        rows.push(("last error", error.clone()));
    }
    for (key, value) in rows {
        out.line(&format!("{key:<12} {value}"))?;
    }
    out.flush()
}

/// A list of sandboxes rendered as they come: a JSON array with one sandbox per
/// line, or a table.
pub struct SandboxList<'a> {
    out: &'a mut Out,
    table: Option<Table>,
    first: bool,
}

impl<'a> SandboxList<'a> {
    pub fn start(out: &'a mut Out) -> io::Result<SandboxList<'a>> {
        let table = if out.json {
            write!(out.w, "[")?;
            None
        } else {
            Some(table(&[
                "ID", "STATE", "PROFILE", "PROJECT", "CONSUMER", "EXPIRES",
            ]))
        };
        Ok(SandboxList {
            out,
            table,
            first: true,
        })
    }

    pub fn push(&mut self, r: &SandboxView<'_>) -> io::Result<()> {
        match &mut self.table {
            Some(t) => {
                t.add_row(vec![
                    r.id.to_string(),
                    r.state.to_string(),
                    r.profile_id.to_string(),
                    r.project.to_string(),
                    r.consumer.to_string(),
                    relative(r.expires_at),
                ]);
            }
            None => {
                let scratch = &mut self.out.scratch;
                scratch.clear();
                scratch.extend_from_slice(if self.first { b"\n" } else { b",\n" });
                self.first = false;
                r.write_json(scratch);
                self.out.w.write_all(scratch)?;
            }
        }
        Ok(())
    }

    pub fn finish(self) -> io::Result<()> {
        match self.table {
            Some(t) => self.out.table(t),
            None => {
                writeln!(self.out.w, "{}]", if self.first { "" } else { "\n" })?;
                self.out.flush()
            }
        }
    }
}

pub fn destroyed(out: &mut Out, outcome: &DestroyOutcome) -> io::Result<()> {
    if out.json {
        return out.json(&json!({
            "id": outcome.record.id,
            "state": outcome.record.state,
            "already_destroyed": outcome.already_destroyed,
        }));
    }
    if outcome.already_destroyed {
        out.line(&format!("{} was already destroyed", outcome.record.id))
    } else {
        out.line(&format!("destroyed {}", outcome.record.id))
    }
}

pub fn recreated(out: &mut Out, old: &SandboxRecord, new: &SandboxRecord) -> io::Result<()> {
    if out.json {
        return out.json(&json!({ "old": old, "new": new }));
    }
    out.line(&format!(
        "recreated {} as {} ({})",
        old.id, new.id, new.state
    ))?;
    sandbox(out, new)
}

pub fn exec_result(out: &mut Out, r: &sandboxer_ext_protocol::ExecResult) -> io::Result<()> {
    if out.json {
        return out.json(r);
    }
    out.w.write_all(r.stdout.as_bytes())?;
    out.flush()?;
    eprint!("{}", r.stderr);
    Ok(())
}

/// How to reach an endpoint through the proxy.
pub fn endpoint_access(
    out: &mut Out,
    a: &sandboxer_core::endpoints::EndpointAccess,
) -> io::Result<()> {
    if out.json {
        return out.json(a);
    }
    writeln!(out.w, "url:        {}", a.url)?;
    writeln!(out.w, "path url:   {}", a.path_url)?;
    if a.public {
        writeln!(
            out.w,
            "public:     anyone may open it (the profile's public_endpoints)"
        )?;
    }
    if let Some(token) = &a.token {
        writeln!(out.w, "header:     {}: {token}", a.header)?;
    }
    if let (Some(signed), Some(until)) = (&a.signed_url, &a.expires_at) {
        writeln!(out.w, "signed url: {signed}")?;
        writeln!(out.w, "            (until {until})")?;
    }
    out.flush()
}

/// Bytes as they came (a sandbox's log), written at once.
pub fn raw(out: &mut Out, bytes: &[u8]) -> io::Result<()> {
    out.w.write_all(bytes)?;
    out.flush()
}

/// Bytes as a person reads them: 1.5 MiB.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A sandbox's figures (`top`): a row per part, then the sum.
pub fn figures(out: &mut Out, m: &sandboxer_ext_protocol::MetricsResult) -> io::Result<()> {
    if out.json {
        return out.json(m);
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header([
        "PART",
        "CPU %",
        "MEMORY",
        "LIMIT",
        "NET IN",
        "NET OUT",
        "DISK READ",
        "DISK WRITE",
        "WRITTEN",
        "PIDS",
    ]);
    let row = |name: &str, f: &sandboxer_ext_protocol::Figures| {
        vec![
            name.to_string(),
            format!("{:.1}", f.cpu_percent),
            bytes(f.memory_bytes),
            f.memory_limit_bytes
                .map(bytes)
                .unwrap_or_else(|| "-".into()),
            bytes(f.net_rx_bytes),
            bytes(f.net_tx_bytes),
            bytes(f.block_read_bytes),
            bytes(f.block_write_bytes),
            f.disk_bytes.map(bytes).unwrap_or_else(|| "-".into()),
            f.pids.to_string(),
        ]
    };
    for (name, f) in &m.services {
        table.add_row(row(name, f));
    }
    table.add_row(row("(all)", &m.total));
    writeln!(out.w, "{table}")?;
    writeln!(out.w, "at {}", m.at)?;
    out.flush()
}

/// What `cp` moved: bytes of the tar stream.
pub fn copied(out: &mut Out, bytes: u64) -> io::Result<()> {
    if out.json {
        return out.json(&serde_json::json!({ "bytes": bytes }));
    }
    writeln!(out.w, "copied {bytes} bytes")?;
    out.flush()
}

pub fn extended(out: &mut Out, r: &SandboxRecord) -> io::Result<()> {
    if out.json {
        return out.json(r);
    }
    out.line(&format!(
        "{} now expires at {} ({}); its ceiling is {}",
        r.id,
        rfc3339(r.expires_at),
        relative(r.expires_at),
        rfc3339(r.ceiling_at)
    ))?;
    out.flush()
}

fn event_text(e: &Event) -> String {
    match (e.from_state, e.to_state) {
        (Some(from), Some(to)) => format!("{from} -> {to}"),
        (None, Some(to)) => format!("-> {to}"),
        _ => e.kind.as_str().to_string(),
    }
}

pub fn event_list(out: &mut Out, events: &[Event]) -> io::Result<()> {
    if out.json {
        return out.json(&events);
    }
    let mut t = table(&["SEQ", "AT", "SANDBOX", "ACTOR", "EVENT", "DETAIL"]);
    for e in events {
        t.add_row(vec![
            e.seq.to_string(),
            rfc3339(e.at),
            e.sandbox_id.clone(),
            e.actor.clone(),
            event_text(e),
            e.detail.to_string(),
        ]);
    }
    out.table(t)
}

/// One event per line (`--follow`): JSON lines with `--json`.
pub fn event_line(out: &mut Out, e: &Event) -> io::Result<()> {
    if out.json {
        serde_json::to_writer(&mut out.w, e)?;
        return writeln!(out.w);
    }
    out.line(&format!(
        "{} {} {} {} {} {}",
        e.seq,
        rfc3339(e.at),
        e.sandbox_id,
        e.actor,
        event_text(e),
        e.detail
    ))
}

/// A text field of a JSON object, or `-`.
fn text(value: &serde_json::Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(serde_json::Value::String(s)) => s.clone(),
        None | Some(serde_json::Value::Null) => "-".into(),
        Some(other) => other.to_string(),
    }
}

/// Profiles as the caller may see them (JSON objects, the API's shape).
pub fn profile_list(out: &mut Out, profiles: &[serde_json::Value]) -> io::Result<()> {
    if out.json {
        return out.json(&profiles);
    }
    let mut t = table(&["ID", "VERSION", "EXTENSION", "TTL", "MAX", "DESCRIPTION"]);
    for p in profiles {
        let others = p["candidates"]
            .as_array()
            .map_or(0, |c| c.len().saturating_sub(1));
        let extension = match others {
            0 => text(p, "/extension"),
            n => format!("{} (+{n} more)", text(p, "/extension")),
        };
        t.add_row(vec![
            text(p, "/id"),
            text(p, "/version"),
            extension,
            text(p, "/ttl/default"),
            text(p, "/ttl/max"),
            text(p, "/description"),
        ]);
    }
    out.table(t)
}

pub fn profile(out: &mut Out, p: &serde_json::Value) -> io::Result<()> {
    if out.json {
        return out.json(p);
    }
    let text = yaml_serde::to_string(p).unwrap_or_else(|e| format!("(cannot render: {e})\n"));
    write!(out.w, "{text}")?;
    out.flush()
}

pub fn extension_list(out: &mut Out, reports: &[ExtensionReport]) -> io::Result<()> {
    if out.json {
        return out.json(&reports);
    }
    let mut t = table(&["NAME", "VERSION", "PROTOCOL", "HANDSHAKE", "PATH"]);
    let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    for r in reports {
        let status = match &r.error {
            None => r.handshake.clone(),
            Some(e) => format!("{}: {}", r.handshake, e.lines().next().unwrap_or("")),
        };
        t.add_row(vec![
            format!("ext.{}", r.name),
            or_unknown(&r.version),
            or_unknown(&r.protocol_version),
            status,
            r.path
                .as_ref()
                .map_or("-".into(), |p| p.display().to_string()),
        ]);
    }
    out.table(t)
}

pub fn extension(out: &mut Out, r: &ExtensionReport) -> io::Result<()> {
    if out.json {
        return out.json(r);
    }
    out.line(&format!("name         ext.{}", r.name))?;
    if let Some(path) = &r.path {
        out.line(&format!("path         {}", path.display()))?;
    }
    if let Some(e) = &r.error {
        out.line(&format!("handshake    {}: {e}", r.handshake))?;
        return out.flush();
    }
    out.line(&format!(
        "version      {}",
        r.version.as_deref().unwrap_or("?")
    ))?;
    out.line(&format!(
        "protocol     {}",
        r.protocol_version.as_deref().unwrap_or("?")
    ))?;
    out.line(&format!("handshake    {}", r.handshake))?;
    out.line(&format!(
        "methods      {}",
        r.methods.as_deref().unwrap_or_default().join(", ")
    ))?;
    let features = r.features.as_deref().unwrap_or_default();
    if !features.is_empty() {
        out.line(&format!("features     {}", features.join(", ")))?;
    }
    for (name, spec) in r.options_schema.iter().flatten() {
        let mut flags = vec![];
        if spec.required {
            flags.push("required");
        }
        if spec.secret {
            flags.push("secret");
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flags.join(", "))
        };
        out.line(&format!("option       {name}{flags}: {}", spec.description))?;
    }
    out.flush()
}

pub fn fleet(out: &mut Out, views: &[sandboxer_core::operations::FleetView]) -> io::Result<()> {
    if out.json {
        return out.json(&views);
    }
    for v in views {
        let recorded: Vec<String> = v.recorded.iter().map(|(s, n)| format!("{s} {n}")).collect();
        out.line(&format!(
            "{}: recorded {}; found {}",
            v.extension,
            recorded.join(", "),
            v.found
        ))?;
        for (host, n) in &v.hosts {
            out.line(&format!("  host {host}: {n} found"))?;
        }
        if let Some(e) = &v.error {
            out.line(&format!("  cannot list: {e}"))?;
        }
        for f in &v.findings {
            out.line(&format!(
                "  {}",
                serde_json::to_string(f).unwrap_or_default()
            ))?;
        }
    }
    out.flush()
}

pub fn snapshot(out: &mut Out, s: &sandboxer_core::store::SnapshotRecord) -> io::Result<()> {
    if out.json {
        return out.json(s);
    }
    out.line(&format!("snapshot     {}", s.id))?;
    out.line(&format!("name         {}", s.name))?;
    out.line(&format!("sandbox      {}", s.sandbox_id))?;
    out.line(&format!("profile      {}", s.profile_id))?;
    out.line(&format!("extension    {}", s.extension))?;
    out.line(&format!("owner        {} in {}", s.consumer, s.project))?;
    out.line(&format!("created      {}", rfc3339(s.created_at)))?;
    if let Some(at) = s.deleted_at {
        out.line(&format!("deleted      {}", rfc3339(at)))?;
    }
    out.flush()
}

pub fn snapshot_list(
    out: &mut Out,
    snaps: &[sandboxer_core::store::SnapshotRecord],
) -> io::Result<()> {
    if out.json {
        return out.json(&snaps);
    }
    let mut t = table(&[
        "SNAPSHOT", "NAME", "SANDBOX", "PROFILE", "PROJECT", "CREATED",
    ]);
    for s in snaps {
        t.add_row(vec![
            s.id.clone(),
            s.name.clone(),
            s.sandbox_id.clone(),
            s.profile_id.clone(),
            s.project.clone(),
            rfc3339(s.created_at),
        ]);
    }
    out.table(t)
}

/// The ledger as a table (with totals), CSV or JSON.
pub fn ledger(
    out: &mut Out,
    ledger: &sandboxer_core::operations::Ledger,
    format: &str,
) -> io::Result<()> {
    if out.json || format == "json" {
        return out.json(ledger);
    }
    if format == "csv" {
        let text = sandboxer_core::operations::to_csv(ledger).map_err(io::Error::other)?;
        out.w.write_all(text.as_bytes())?;
        return out.flush();
    }
    let mut t = table(&[
        &ledger.by.to_uppercase(),
        "SANDBOXES",
        "SANDBOX-SECONDS",
        "SNAPSHOT-SECONDS",
        "COST",
        "CURRENCY",
    ]);
    for g in &ledger.groups {
        t.add_row(vec![
            g.key.clone(),
            g.sandboxes.to_string(),
            g.sandbox_seconds.to_string(),
            g.snapshot_seconds.to_string(),
            g.cost.to_string(),
            g.currency.clone(),
        ]);
    }
    for total in &ledger.totals {
        t.add_row(vec![
            "(total)".into(),
            String::new(),
            total.sandbox_seconds.to_string(),
            total.snapshot_seconds.to_string(),
            total.cost.to_string(),
            total.currency.clone(),
        ]);
    }
    out.table(t)
}

/// What each candidate extension guarantees of a profile: one row per guarantee,
/// one column per extension.
pub fn guarantees(
    out: &mut Out,
    profile: &str,
    candidates: &[sandboxer_core::operations::Candidate],
) -> io::Result<()> {
    if out.json {
        return out.json(&json!({ "profile": profile, "candidates": candidates }));
    }
    let usable: Vec<&sandboxer_core::operations::Candidate> =
        candidates.iter().filter(|c| c.error.is_none()).collect();
    let mut header = vec!["GUARANTEE".to_string(), "ASKED".to_string()];
    header.extend(usable.iter().map(|c| {
        if c.named_by_profile {
            format!("{} (profile's)", c.extension)
        } else {
            c.extension.clone()
        }
    }));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = table(&header);
    if let Some(first) = usable.first() {
        for (i, v) in first.verdicts.iter().enumerate() {
            let mut row = vec![v.guarantee.to_string(), v.asked.clone()];
            row.extend(
                usable
                    .iter()
                    .map(|c| c.verdicts[i].support.as_str().to_string()),
            );
            t.add_row(row);
        }
    }
    out.table(t)?;
    for c in candidates {
        if let Some(e) = &c.error {
            out.line(&format!("{}: not asked: {e}", c.extension))?;
        }
    }
    out.flush()
}

/// A routing decision: the chosen extension, or every candidate and why.
pub fn route(
    out: &mut Out,
    route: &sandboxer_core::operations::Route,
    explain: bool,
) -> io::Result<()> {
    if out.json {
        return out.json(route);
    }
    if !explain {
        if let Some(chosen) = route.chosen() {
            out.line(&chosen.extension)?;
        }
        return out.flush();
    }
    out.line(&format!(
        "profile {}, policy {}",
        route.profile,
        route.policy.as_str()
    ))?;
    let mut t = table(&[
        "RANK",
        "EXTENSION",
        "CLASS",
        "PREFER",
        "RATE",
        "BUDGET",
        "HEALTH",
        "VERDICT",
    ]);
    for c in &route.candidates {
        t.add_row(vec![
            c.rank.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            c.extension.clone(),
            c.class.as_str().into(),
            c.prefer.to_string(),
            c.rate
                .as_ref()
                .map(|r| format!("{} {}/hour ({})", r.per_hour, r.currency, r.source))
                .unwrap_or_else(|| "-".into()),
            budget_room(&c.budgets),
            c.health.clone(),
            match (&c.excluded, c.rank) {
                (Some(why), _) => format!("excluded: {why}"),
                (None, Some(1)) => "chosen".into(),
                (None, _) => "fallback".into(),
            },
        ]);
    }
    out.table(t)?;
    out.flush()
}

/// Each budget a candidate was weighed against: what the sandbox may cost
/// over its TTL beside what is left.
fn budget_room(rooms: &[sandboxer_core::operations::BudgetRoom]) -> String {
    if rooms.is_empty() {
        return "-".into();
    }
    rooms
        .iter()
        .map(|r| {
            format!(
                "{} {} of {} left ({}); may cost {}",
                r.left, r.currency, r.amount, r.budget, r.estimate
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Hosts over a window: the latest sample, how often they answered, the canary.
/// What `doctor` found: per extension and host, each check, and the fix of
/// each that failed.
pub fn doctor(
    out: &mut Out,
    reports: &[sandboxer_core::operations::DoctorReport],
) -> io::Result<()> {
    if out.json {
        return out.json(&reports);
    }
    for report in reports {
        if let Some(e) = &report.error {
            out.line(&format!("{}: could not check: {e}", report.extension))?;
        }
        for host in &report.hosts {
            out.line(&format!("{}, host {}:", report.extension, host.host))?;
            for check in &host.checks {
                let mark = if check.ok { "ok  " } else { "FAIL" };
                out.line(&format!("  {mark} {}: {}", check.name, check.detail))?;
                if let Some(fix) = &check.fix {
                    out.line(&format!("       fix: {fix}"))?;
                }
            }
        }
    }
    out.flush()
}

pub fn hosts(out: &mut Out, reports: &[sandboxer_core::operations::HostReport]) -> io::Result<()> {
    if out.json {
        return out.json(&reports);
    }
    let mut t = table(&[
        "HOST",
        "EXTENSION",
        "REACHABLE",
        "LOAD1",
        "MEM-FREE-MB",
        "DISK-FREE-MB",
        "SANDBOXES",
        "UP",
        "LAST CANARY",
    ]);
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for r in reports {
        let s = &r.latest;
        let canary = r.last_canary.as_ref().map_or("-".to_string(), |c| {
            format!(
                "{} at {} ({}/{} ok)",
                if c.ok { "ok" } else { "FAILED" },
                rfc3339(c.at),
                r.canaries_ok,
                r.canaries
            )
        });
        t.add_row(vec![
            s.host.clone(),
            s.extension.clone(),
            if s.reachable { "yes" } else { "NO" }.into(),
            opt(s.load1.map(|v| format!("{v:.2}"))),
            opt(s.mem_free_mb.map(|v| v.to_string())),
            opt(s.disk_free_mb.map(|v| v.to_string())),
            opt(s.sandboxes.map(|v| v.to_string())),
            format!("{}/{} samples", r.reachable_samples, r.samples),
            canary,
        ]);
    }
    out.table(t)?;
    for r in reports.iter().filter(|r| r.latest.error.is_some()) {
        out.line(&format!(
            "{}: {}",
            r.latest.host,
            r.latest.error.as_deref().unwrap_or_default()
        ))?;
    }
    out.flush()
}

/// The canary's runs, one per host.
pub fn canary_runs(out: &mut Out, runs: &[sandboxer_core::store::CanaryRun]) -> io::Result<()> {
    if out.json {
        return out.json(&runs);
    }
    let mut t = table(&[
        "HOST",
        "EXTENSION",
        "RESULT",
        "CREATE-MS",
        "TOTAL-MS",
        "SANDBOX",
        "ERROR",
    ]);
    for r in runs {
        t.add_row(vec![
            r.host.clone(),
            r.extension.clone(),
            if r.ok { "ok" } else { "FAILED" }.into(),
            r.create_ms.map_or("-".into(), |v| v.to_string()),
            r.total_ms.to_string(),
            r.sandbox_id.clone().unwrap_or_else(|| "-".into()),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    out.table(t)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1 << 20) as f64)
}

/// Images built for a profile, one per extension.
pub fn images_built(
    out: &mut Out,
    built: &[sandboxer_core::operations::BuiltImage],
) -> io::Result<()> {
    if out.json {
        return out.json(&built);
    }
    for b in built {
        out.line(&format!(
            "{}: image {} {} ({} MB)",
            b.extension,
            b.image.image_id,
            if b.built { "built" } else { "already built" },
            megabytes(b.image.size_bytes)
        ))?;
    }
    out.flush()
}

/// Every extension's images.
pub fn image_reports(
    out: &mut Out,
    reports: &[sandboxer_core::operations::ImageReport],
) -> io::Result<()> {
    if out.json {
        return out.json(&reports);
    }
    let mut t = table(&[
        "EXTENSION",
        "IMAGE",
        "PROFILE",
        "SIZE-MB",
        "BUILT",
        "USED BY",
    ]);
    for r in reports {
        for i in &r.images {
            t.add_row(vec![
                r.extension.clone(),
                i.image_id.clone(),
                i.profile.clone().unwrap_or_else(|| "-".into()),
                megabytes(i.size_bytes),
                i.built_at.clone(),
                if i.used_by.is_empty() {
                    "-".into()
                } else {
                    i.used_by.join(", ")
                },
            ]);
        }
    }
    out.table(t)?;
    for r in reports {
        if let Some(e) = &r.error {
            out.line(&format!("{}: could not list: {e}", r.extension))?;
        }
    }
    out.flush()
}

/// What prune removed (or would) and kept, per extension.
pub fn images_pruned(
    out: &mut Out,
    reports: &[sandboxer_core::operations::PruneReport],
    dry_run: bool,
) -> io::Result<()> {
    if out.json {
        return out.json(&reports);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for r in reports {
        for i in &r.removed {
            out.line(&format!(
                "{}: {verb} {} ({} MB)",
                r.extension,
                i.image_id,
                megabytes(i.size_bytes)
            ))?;
        }
        for k in &r.kept {
            out.line(&format!(
                "{}: kept {}: {}",
                r.extension, k.image_id, k.reason
            ))?;
        }
    }
    out.flush()
}
