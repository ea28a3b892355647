/**
 * The whole Deno KV key layout, in one place. Each record family has its own
 * prefix; secondary indexes are written in the same atomic as their record.
 */
export const keys = {
  /** SIWS nonce -> { issuedAt }; expires after 5 minutes; consumed once. */
  nonce: (nonce: string) => ["siws_nonce", nonce] as const,
  /** Session id (hex, 256 bits) -> Session. */
  session: (id: string) => ["session", id] as const,
  /** Handle (case-folded) -> Profile. */
  handle: (handle: string) => ["handle", handle] as const,
  /** Wallet public key (base58) -> handle; one handle per wallet. */
  walletHandle: (pubkey: string) => ["wallet_handle", pubkey] as const,
  /** Presence: one key per online device of a handle, with a short expiry. */
  presencePrefix: (handle: string) => ["presence", handle] as const,
  presence: (handle: string, deviceId: string) =>
    ["presence", handle, deviceId] as const,
  /** Call id -> CallRecord: the authoritative call state. */
  call: (callId: string) => ["call", callId] as const,
  /**
   * (deadline ms, call id) -> the call's state: every live call, indexed by
   * the time a sweep must look at it (never later than its real deadline;
   * lib/store/call_deadline.ts). Written in each atomic that changes the
   * record; removed when the call ends.
   */
  callDue: (due: number, callId: string) => ["call_due", due, callId] as const,
  callDuePrefix: () => ["call_due"] as const,
  /**
   * (handle, call id) -> RingingEntry: a call ringing for that handle, so a
   * device that says hello is told about it. Removed when ringing ends;
   * expires at the ring deadline.
   */
  ringing: (handle: string, callId: string) =>
    ["ringing", handle, callId] as const,
  ringingPrefix: (handle: string) => ["ringing", handle] as const,
  /** Handle -> call id while that handle is in an answered call. */
  inCall: (handle: string) => ["in_call", handle] as const,
  /** Call id -> CallLogRecord, kept for the retention period. */
  callLog: (callId: string) => ["call_log", callId] as const,
  /** Index for the owner's history: callee hash, start time, call id. */
  callLogByCallee: (calleeHash: string, startedAt: number, callId: string) =>
    ["call_log_by_callee", calleeHash, startedAt, callId] as const,
  /** Fixed-window rate-limit counters (KvU64), expiring with their window. */
  rate: (scope: string, subject: string, window: number) =>
    ["rate", scope, subject, window] as const,
  /**
   * One of a subject's numbered slots (lib/store/rate.ts takeSlot): held by
   * one socket (or other holder) with a lease that expires unless renewed.
   */
  slot: (scope: string, subject: string, index: number) =>
    ["slot", scope, subject, index] as const,
  /**
   * Handle -> PhoneRecord (lib/store/phones.ts): the bound number's lookup
   * hash, its AES-256-GCM ciphertext and the discoverable flag.
   */
  phone: (handle: string) => ["phone", handle] as const,
  /** Every PhoneRecord (key rotation walks this prefix). */
  phonePrefix: () => ["phone"] as const,
  /** HMAC-SHA-256 of an E.164 number under a pepper (hex) -> handle. */
  phoneHmac: (hmac: string) => ["phone_hmac", hmac] as const,
  /**
   * (handle, HMAC of the E.164 number) -> OtpRecord (lib/store/otp.ts): a
   * pending verification code, stored only as a salted HMAC, with its expiry
   * and attempt count. Expires with the code.
   */
  phoneOtp: (handle: string, phoneHash: string) =>
    ["phone_otp", handle, phoneHash] as const,
  /**
   * (discovery key id, tag, handle) -> the sealed handle (Uint8Array): the
   * contact-discovery directory entry of a bound, findable number
   * (lib/store/discovery.ts, lib/phone/DISCOVERY.md). Written and deleted in
   * the same atomic as its PhoneRecord, which points at it (`dir`).
   */
  discoveryEntry: (kid: string, tag: Uint8Array, handle: string) =>
    ["discovery_entry", kid, tag, handle] as const,
  discoveryEntries: (kid: string) => ["discovery_entry", kid] as const,
  /** The first entry key whose tag starts with `byte` or more (range reads). */
  discoveryEntriesFrom: (kid: string, byte: number) =>
    ["discovery_entry", kid, Uint8Array.of(byte)] as const,
  /** KvU64: entries under a key id; summed (+1/-1) in each entry's atomic. */
  discoveryCount: (kid: string) => ["discovery_count", kid] as const,
  /**
   * KvU64: changes to entries whose tag starts with `byte`, summed in each
   * entry's atomic; a directory chunk's ETag is the sum over its bytes.
   */
  discoveryRev: (kid: string, byte: number) =>
    ["discovery_rev", kid, byte] as const,
  /** The handle Bloom filter's pointer: BloomMeta (lib/store/bloom.ts). */
  bloomMeta: () => ["bloom_meta"] as const,
  /** One block of a filter generation's bits: Uint8Array of at most 8 KiB. */
  bloomChunk: (generation: string, index: number) =>
    ["bloom", generation, index] as const,
  bloomGeneration: (generation: string) => ["bloom", generation] as const,
  /** KvU64: handles in the filter; summed in each claim's atomic. */
  bloomCount: () => ["bloom_count"] as const,
  /** (handle, keyId) -> InboxKeyRecord: a browser's X25519 voicemail key. */
  inboxKey: (handle: string, keyId: string) =>
    ["inbox_key", handle, keyId] as const,
  inboxKeyPrefix: (handle: string) => ["inbox_key", handle] as const,
  /** Handle -> a marker every add/remove of an inbox key rewrites (the cap's check). */
  inboxKeyRev: (handle: string) => ["inbox_key_rev", handle] as const,
  /**
   * (handle, call id) -> VoicemailMeta; written last, in one atomic, only for
   * a complete upload. Expires with the voicemail retention.
   */
  voicemail: (handle: string, callId: string) =>
    ["vm", handle, callId] as const,
  voicemailPrefix: (handle: string) => ["vm", handle] as const,
  /** One piece (at most 60 KiB) of a voicemail envelope's exact bytes. */
  voicemailChunk: (handle: string, callId: string, index: number) =>
    ["vm_chunk", handle, callId, index] as const,
  voicemailChunkPrefix: (handle: string, callId: string) =>
    ["vm_chunk", handle, callId] as const,
  /**
   * (handle, call id) -> { sha256 }: an upload in progress, so that only one
   * envelope's bytes are written as chunks at a time; short expiry.
   */
  voicemailUpload: (handle: string, callId: string) =>
    ["vm_upload", handle, callId] as const,
  /** Every presence record (the dashboard counts devices online). */
  presenceAll: () => ["presence"] as const,
  /** Every call-log record (the dashboard's log and CSV read in key order). */
  callLogPrefix: () => ["call_log"] as const,
  /** One callee's history index, oldest first. */
  callLogByCalleePrefix: (calleeHash: string) =>
    ["call_log_by_callee", calleeHash] as const,
  /**
   * Dashboard counters (KvU64, summed in endCall's atomic) under ["stats", …];
   * what each counts is in lib/store/stats.ts.
   */
  statsPrefix: () => ["stats"] as const,
  stats: {
    /** Calls started that UTC day (`YYYY-MM-DD`), by outcome. */
    calls: (day: string, decision: string) =>
      ["stats", "calls", day, decision] as const,
    /** The first key of a day's call counters (range reads). */
    callsFrom: (day: string) => ["stats", "calls", day] as const,
    callsTotal: (day: string) => ["stats", "calls", day, "total"] as const,
    /** Answered calls that day relayed by TURN. */
    relayed: (day: string) => ["stats", "relayed", day] as const,
    /** Answered calls by duration bucket (lower bound, seconds). */
    duration: (fromSeconds: number) =>
      ["stats", "duration", fromSeconds] as const,
    durationPrefix: () => ["stats", "duration"] as const,
    /** All-time calls by outcome, "total" and "relayed". */
    all: (what: string) => ["stats", "all", what] as const,
    allPrefix: () => ["stats", "all"] as const,
    voicemailCount: () => ["stats", "voicemails", "count"] as const,
    voicemailBytes: () => ["stats", "voicemails", "bytes"] as const,
  },
  /**
   * The KV bus (signaling/bus_kv.ts): (topic, instance) -> { at }, a
   * subscription with a short expiry renewed while it lives.
   */
  busSub: (topic: string, instanceId: string) =>
    ["bus_sub", topic, instanceId] as const,
  busSubPrefix: (topic: string) => ["bus_sub", topic] as const,
  /** One message in an instance's inbox, in publish order per publisher. */
  busInbox: (instanceId: string, ts: number, publisher: string, seq: number) =>
    ["bus_inbox", instanceId, ts, publisher, seq] as const,
  busInboxPrefix: (instanceId: string) => ["bus_inbox", instanceId] as const,
  /** An instance's inbox head: the key its watch wakes on. */
  busHead: (instanceId: string) => ["bus_head", instanceId] as const,
  /**
   * (handle, id) -> PushSubRecord (lib/store/push_subs.ts): a browser's Web
   * Push subscription, its endpoint and keys sealed with AES-256-GCM (the
   * handle and id as associated data). Kept until its owner removes it or
   * the push service says it is gone (404/410).
   */
  pushSub: (handle: string, id: string) => ["push_sub", handle, id] as const,
  pushSubPrefix: (handle: string) => ["push_sub", handle] as const,
  /** Every PushSubRecord (key rotation walks this prefix). */
  pushSubAll: () => ["push_sub"] as const,
  /**
   * HMAC-SHA-256 of a subscription's endpoint (hex) -> { handle, id }: one
   * endpoint belongs to one subscription of one handle. Written and deleted
   * in the same atomic as its record.
   */
  pushEndpoint: (hash: string) => ["push_endpoint", hash] as const,
  /** Handle -> a marker every add/remove of a subscription rewrites (the cap's check). */
  pushSubRev: (handle: string) => ["push_sub_rev", handle] as const,
};
