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
};
