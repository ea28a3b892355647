/**
 * /ops: the operator dashboard. Only signed-in keys listed in
 * REACH_OPERATOR_KEYS see it; everyone else gets the ordinary 404 page, for
 * every method, so the page cannot be told from a missing one. Figures come
 * from counters (lib/store/stats.ts), not from scanning the log; the log
 * table shows shortened hashes only. No client script.
 */
import type { FreshContext, PageProps, RouteConfig } from "$fresh/server.ts";
import { Head } from "$fresh/runtime.ts";
import { app } from "@/lib/app.ts";
import { isOperator } from "@/lib/ops/access.ts";
import { parseDecision } from "@/lib/ops/calllog.ts";
import { stackedBars } from "@/lib/ops/chart.ts";
import { type Dashboard, loadDashboard } from "@/lib/ops/dashboard.ts";
import { bucketRange, bytes, clock, percent } from "@/lib/ops/format.ts";
import type { State } from "@/lib/state.ts";
import { DECISIONS } from "@/lib/store/stats.ts";

export const config: RouteConfig = { csp: true };

export async function handler(req: Request, ctx: FreshContext<State>) {
  const { kv, config } = await app();
  const getLike = req.method === "GET" || req.method === "HEAD";
  if (!getLike || !isOperator(ctx.state, config)) return ctx.renderNotFound();
  const q = ctx.url.searchParams;
  const data = await loadDashboard(kv, {
    decision: parseDecision(q.get("decision")),
    cursor: q.get("cursor"),
  });
  return ctx.render(data, {
    headers: { "cache-control": "no-store", "x-robots-tag": "noindex" },
  });
}

function href(decision: string | null, cursor?: string | null): string {
  const p = new URLSearchParams();
  if (decision) p.set("decision", decision);
  if (cursor) p.set("cursor", cursor);
  const s = p.toString();
  return s ? `/ops?${s}` : "/ops";
}

function Chart({ data }: { data: Dashboard }) {
  const chart = stackedBars(data.stats.days);
  const days = data.stats.days;
  const summary = `Calls per day, last ${days.length} days: ${
    days.map((d) => `${d.day} ${d.total}`).join(", ")
  }.`;
  return (
    <figure class="ops-chart">
      <svg
        role="img"
        aria-labelledby="ops-chart-title ops-chart-desc"
        viewBox={`0 0 ${chart.width} ${chart.height}`}
        width="100%"
        preserveAspectRatio="xMidYMid meet"
      >
        <title id="ops-chart-title">
          Calls per day, last {days.length} days, by outcome
        </title>
        <desc id="ops-chart-desc">{summary}</desc>
        {chart.ticks.map((t) => (
          <g class="tick" key={t.value}>
            <line
              x1={chart.plotLeft}
              x2={chart.plotRight}
              y1={t.y}
              y2={t.y}
            />
            <text x={chart.plotLeft - 6} y={t.y + 4} text-anchor="end">
              {t.value}
            </text>
          </g>
        ))}
        {chart.bars.map((b) => (
          <g key={b.day}>
            {b.segments.map((s) => (
              <rect
                class={`seg d-${s.decision}`}
                x={s.x}
                y={s.y}
                width={s.width}
                height={s.height}
              >
                <title>{`${b.day}: ${s.count} ${s.decision}`}</title>
              </rect>
            ))}
            <text
              class="day"
              x={b.x + b.width / 2}
              y={chart.height - 8}
              text-anchor="middle"
            >
              {b.label}
            </text>
          </g>
        ))}
      </svg>
      <figcaption>
        <ul class="ops-legend">
          {DECISIONS.map((d) => (
            <li key={d}>
              <span class={`swatch d-${d}`} aria-hidden="true" />
              {d}
            </li>
          ))}
        </ul>
      </figcaption>
      <details>
        <summary>Calls per day as a table</summary>
        <table class="ops-table">
          <thead>
            <tr>
              <th scope="col">Day (UTC)</th>
              {DECISIONS.map((d) => <th scope="col" key={d}>{d}</th>)}
              <th scope="col">total</th>
            </tr>
          </thead>
          <tbody>
            {days.map((d) => (
              <tr key={d.day}>
                <th scope="row">{d.day}</th>
                {DECISIONS.map((k) => <td key={k}>{d.decisions[k]}</td>)}
                <td>{d.total}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

export default function Ops({ data }: PageProps<Dashboard, State>) {
  const { stats, log, decision } = data;
  const w = stats.window;
  const csv = `/ops/calls.csv${
    decision ? `?decision=${encodeURIComponent(decision)}` : ""
  }`;
  return (
    <section class="page ops">
      <Head>
        <title>Operations · Reach</title>
        <meta name="robots" content="noindex" />
      </Head>
      <h1>Operations</h1>
      <p class="hint">
        Figures for the last {stats.days.length}{" "}
        days (UTC) come from counters updated as each call ends. The log holds
        keyed hashes only.
      </p>
      <dl class="ops-figures">
        <div>
          <dt>Calls ({stats.days.length} days)</dt>
          <dd id="fig-calls">{w.total}</dd>
        </div>
        <div>
          <dt>Answer rate</dt>
          <dd id="fig-answer-rate">{percent(w.answerRate)}</dd>
        </div>
        <div>
          <dt>Median answered call (bucketed, all time)</dt>
          <dd id="fig-median">{bucketRange(stats.duration.median)}</dd>
        </div>
        <div>
          <dt>Relayed through TURN (of answered)</dt>
          <dd id="fig-relayed">{percent(w.relayedShare)}</dd>
        </div>
        <div>
          <dt>Voicemails stored</dt>
          <dd id="fig-voicemails">
            {stats.voicemails.count} ({bytes(stats.voicemails.bytes)})
          </dd>
        </div>
        <div>
          <dt>Devices online now</dt>
          <dd id="fig-devices">{data.devicesOnline}</dd>
        </div>
        <div>
          <dt>Calls live now (every isolate)</dt>
          <dd id="fig-live">
            {data.live.ringing} ringing, {data.live.answered} answered
            {data.live.capped ? " (at least)" : ""}
          </dd>
        </div>
        <div>
          <dt>Connections on this isolate</dt>
          <dd id="fig-connections">
            {data.connections.connections} ({data.connections.devices} devices,
            {" "}
            {data.connections.callers} callers)
          </dd>
        </div>
        <div>
          <dt>Calls, all time</dt>
          <dd id="fig-all-time">{stats.allTime.total}</dd>
        </div>
      </dl>

      <h2>Calls per day</h2>
      <Chart data={data} />

      <h2>Outcomes ({stats.days.length} days)</h2>
      <table class="ops-table" id="breakdown">
        <thead>
          <tr>
            <th scope="col">Outcome</th>
            <th scope="col">Calls</th>
            <th scope="col">Share</th>
          </tr>
        </thead>
        <tbody>
          {DECISIONS.map((d) => (
            <tr key={d}>
              <th scope="row">
                <span class={`swatch d-${d}`} aria-hidden="true" /> {d}
              </th>
              <td data-decision={d}>{w.decisions[d]}</td>
              <td>{percent(w.total ? w.decisions[d] / w.total : null)}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h2>Call log</h2>
      <nav class="ops-filter" aria-label="Filter the call log">
        <a href={href(null)} aria-current={decision ? undefined : "page"}>
          all
        </a>
        {DECISIONS.map((d) => (
          <a
            key={d}
            href={href(d)}
            aria-current={decision === d ? "page" : undefined}
          >
            {d}
          </a>
        ))}
      </nav>
      <p>
        <a class="button" href={csv} download>
          Export {decision ?? "all"} as CSV
        </a>{" "}
        <span class="hint">(at most 50 000 rows)</span>
      </p>
      {log.rows.length === 0
        ? (
          <p class="empty" id="log-empty">
            {data.from ? "No more calls." : "No calls in the log."}
          </p>
        )
        : (
          <div class="table-wrap">
            <table class="ops-table" id="call-log">
              <thead>
                <tr>
                  <th scope="col">Started (UTC)</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Length</th>
                  <th scope="col">TURN</th>
                  <th scope="col">Caller</th>
                  <th scope="col">Callee</th>
                </tr>
              </thead>
              <tbody>
                {log.rows.map((r) => (
                  <tr key={r.ref} data-call-ref={r.ref}>
                    <td>
                      <time datetime={new Date(r.startedAt).toISOString()}>
                        {new Date(r.startedAt).toISOString().slice(0, 16)
                          .replace("T", " ")}
                      </time>
                    </td>
                    <td>{r.decision}</td>
                    <td>
                      {r.decision === "answered" ? clock(r.durationMs) : "—"}
                    </td>
                    <td>{r.relayed ? "yes" : "no"}</td>
                    <td>
                      <code>{r.caller}</code>
                    </td>
                    <td>
                      <code>{r.callee}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      <p class="ops-pager">
        {data.from && <a href={href(decision)}>First page</a>}{" "}
        {log.cursor && (
          <a rel="next" href={href(decision, log.cursor)}>Next page</a>
        )}
      </p>
    </section>
  );
}
