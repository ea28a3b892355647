/**
 * Limits for tests that are not about limits: every test client comes from
 * 127.0.0.1, so the per-address defaults (3 handle claims a day, 10 rings a
 * minute...) would stop ordinary tests that sign up many people. Tests of a
 * limit set that limit themselves (or use `defaultLimits()` on purpose).
 */
import { LIMITS } from "@/lib/limits.ts";

export const GENEROUS_LIMITS: Record<string, string> = Object.fromEntries(
  Object.values(LIMITS).map((spec) => [spec.env, "1000000"]),
);

/** The env that puts every limit back to its default (for limit tests). */
export const DEFAULT_LIMITS_ENV: Record<string, string> = Object.fromEntries(
  Object.values(LIMITS).map((spec) => [spec.env, String(spec.default)]),
);
