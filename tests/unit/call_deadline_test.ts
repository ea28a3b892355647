/**
 * The call deadlines (lib/store/call_deadline.ts) as a table: for each kind
 * of call record, when it ends and how, read at the instant before its
 * deadline (still live) and at the deadline itself (ended).
 */
import assert from "node:assert/strict";
import {
  deadlineOf,
  type Expiry,
  expiry,
  lastSign,
  sideDeadline,
  type Timed,
} from "@/lib/store/call_deadline.ts";

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const S = 1000;
const SILENT = 45 * S;
const GRACE = 60 * S;
const RING = 60 * S;

/** A ringing call created at T0 whose caller socket is alive. */
function ringing(over: Partial<Timed> = {}): Timed {
  return {
    state: "ringing",
    ringUntil: T0 + RING,
    callerSeen: T0,
    silentMs: SILENT,
    graceMs: GRACE,
    ...over,
  };
}

/** A call answered at `at`, both sides last seen then. */
function answered(at: number, over: Partial<Timed> = {}): Timed {
  return ringing({
    state: "answered",
    answeredAt: at,
    callerSeen: at,
    calleeSeen: at,
    ...over,
  });
}

interface Row {
  name: string;
  rec: Timed;
  deadline: number;
  ends: Expiry;
}

const rows: Row[] = [
  {
    name: "ringing, nobody answers: missed at ringUntil",
    rec: ringing(),
    deadline: T0 + RING,
    ends: { decision: "missed" },
  },
  {
    name: "ringing, caller refreshed: still missed at ringUntil",
    rec: ringing({ callerSeen: T0 + 50 * S }),
    deadline: T0 + RING,
    ends: { decision: "missed" },
  },
  {
    name: "caller lost while ringing, grace passes first: cancelled",
    rec: ringing({
      graceMs: 20 * S,
      callerSeen: T0 + 5 * S,
      callerLostAt: T0 + 5 * S,
    }),
    deadline: T0 + 25 * S,
    ends: { decision: "cancelled", lost: "caller" },
  },
  {
    name: "caller lost while ringing, ring ends first: missed",
    rec: ringing({
      graceMs: 20 * S,
      callerSeen: T0 + 50 * S,
      callerLostAt: T0 + 50 * S,
    }),
    deadline: T0 + RING,
    ends: { decision: "missed" },
  },
  {
    name: "caller isolate silent while ringing, short timers: cancelled",
    rec: ringing({ silentMs: 10 * S, graceMs: 20 * S }),
    deadline: T0 + 30 * S,
    ends: { decision: "cancelled", lost: "caller" },
  },
  {
    name: "answered, callee socket closed: ends at lostAt+grace, up to lostAt",
    rec: answered(T0 + 10 * S, {
      callerSeen: T0 + 200 * S,
      calleeSeen: T0 + 100 * S,
      calleeLostAt: T0 + 100 * S,
    }),
    deadline: T0 + 100 * S + GRACE,
    ends: { decision: "answered", lost: "callee", endAt: T0 + 100 * S },
  },
  {
    name: "answered, caller socket closed: ends at lostAt+grace, up to lostAt",
    rec: answered(T0 + 10 * S, {
      callerSeen: T0 + 120 * S,
      callerLostAt: T0 + 120 * S,
      calleeSeen: T0 + 150 * S,
    }),
    deadline: T0 + 120 * S + GRACE,
    ends: { decision: "answered", lost: "caller", endAt: T0 + 120 * S },
  },
  {
    name: "answered, callee silent: ends at seen+silent+grace, up to seen",
    rec: answered(T0 + 10 * S, {
      callerSeen: T0 + 140 * S,
      calleeSeen: T0 + 100 * S,
    }),
    deadline: T0 + 100 * S + SILENT + GRACE,
    ends: { decision: "answered", lost: "callee", endAt: T0 + 100 * S },
  },
  {
    name: "answered, caller silent: ends at seen+silent+grace, up to seen",
    rec: answered(T0 + 10 * S, {
      callerSeen: T0 + 30 * S,
      calleeSeen: T0 + 90 * S,
    }),
    deadline: T0 + 30 * S + SILENT + GRACE,
    ends: { decision: "answered", lost: "caller", endAt: T0 + 30 * S },
  },
  {
    name: "answered, callee never refreshed: its sign of life is answeredAt",
    rec: answered(T0 + 10 * S, {
      callerSeen: T0 + 100 * S,
      calleeSeen: undefined,
    }),
    deadline: T0 + 10 * S + SILENT + GRACE,
    ends: { decision: "answered", lost: "callee", endAt: T0 + 10 * S },
  },
  {
    name: "answered, lost socket beats a later silent deadline",
    rec: answered(T0 + 10 * S, {
      callerSeen: T0 + 20 * S,
      calleeSeen: T0 + 40 * S,
      calleeLostAt: T0 + 40 * S,
      graceMs: 10 * S,
    }),
    // caller: 20+45+10 = 75 s; callee: 40+10 = 50 s.
    deadline: T0 + 50 * S,
    ends: { decision: "answered", lost: "callee", endAt: T0 + 40 * S },
  },
];

for (const row of rows) {
  Deno.test(`call deadline: ${row.name}`, () => {
    assert.equal(deadlineOf(row.rec), row.deadline);
    assert.equal(expiry(row.rec, row.deadline - 1), null, "live just before");
    assert.deepEqual(expiry(row.rec, row.deadline), row.ends, "ends at it");
    assert.deepEqual(
      expiry(row.rec, row.deadline + 3600 * S),
      row.ends,
      "and the same verdict however late a sweep looks",
    );
    if (row.ends.decision === "answered") {
      const { lost, endAt } = row.ends;
      assert.equal(lastSign(row.rec, lost), endAt);
      assert.equal(sideDeadline(row.rec, lost), row.deadline);
    }
  });
}

Deno.test("call deadline: a refresh moves the deadline later by as much", () => {
  const before = answered(T0 + 10 * S, {
    callerSeen: T0 + 100 * S,
    calleeSeen: T0 + 100 * S,
  });
  const at = deadlineOf(before);
  assert.ok(expiry(before, at));
  for (const side of ["callerSeen", "calleeSeen"] as const) {
    // Refreshing only one side leaves the other one's deadline in force.
    const one = { ...before, [side]: T0 + 130 * S };
    assert.equal(deadlineOf(one), at, side);
  }
  const both = {
    ...before,
    callerSeen: T0 + 130 * S,
    calleeSeen: T0 + 125 * S,
  };
  assert.equal(deadlineOf(both), at + 25 * S);
  assert.equal(expiry(both, at), null, "live where it used to end");
  assert.deepEqual(expiry(both, at + 25 * S), {
    decision: "answered",
    lost: "callee",
    endAt: T0 + 125 * S,
  });
});

Deno.test("call deadline: a resume (lostAt cleared) restores the silent deadline", () => {
  const lost = answered(T0 + 10 * S, {
    callerSeen: T0 + 100 * S,
    calleeSeen: T0 + 90 * S,
    calleeLostAt: T0 + 90 * S,
  });
  assert.equal(deadlineOf(lost), T0 + 90 * S + GRACE);
  const resumed = {
    ...lost,
    calleeLostAt: undefined,
    calleeSeen: T0 + 95 * S,
  };
  assert.equal(
    deadlineOf(resumed),
    Math.min(T0 + 100 * S, T0 + 95 * S) + SILENT + GRACE,
  );
  assert.equal(expiry(resumed, T0 + 90 * S + GRACE), null);
});

Deno.test("call deadline: an ended call has no deadline and never expires", () => {
  for (
    const rec of [
      { ...ringing(), state: "ended" as const },
      { ...answered(T0 + 10 * S), state: "ended" as const },
      { ...ringing({ callerLostAt: T0 }), state: "ended" as const },
    ]
  ) {
    assert.equal(deadlineOf(rec), Infinity);
    assert.equal(expiry(rec, T0 + 10 * 365 * 86_400 * S), null);
    assert.equal(sideDeadline(rec, "callee"), null);
  }
});

Deno.test("call deadline: a ringing call has no callee side", () => {
  const rec = ringing({ calleeSeen: T0 });
  assert.equal(sideDeadline(rec, "callee"), null);
  assert.equal(sideDeadline(rec, "caller"), T0 + SILENT + GRACE);
});
