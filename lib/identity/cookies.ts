/** The session cookie: `__Host-` prefixed, HttpOnly, Secure, SameSite=Lax. */
import type { Config } from "../config.ts";

type CookieConfig = Pick<Config, "sessionCookie">;

export function sessionCookieHeader(
  config: CookieConfig,
  id: string,
  maxAgeMs: number,
): string {
  const { name, secure } = config.sessionCookie;
  return [
    `${name}=${id}`,
    "Path=/",
    `Max-Age=${Math.floor(maxAgeMs / 1000)}`,
    "HttpOnly",
    "SameSite=Lax",
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}

export function clearSessionCookieHeader(config: CookieConfig): string {
  return sessionCookieHeader(config, "", 0);
}

export function readSessionId(
  req: Request,
  config: CookieConfig,
): string | null {
  const header = req.headers.get("cookie");
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === config.sessionCookie.name) {
      return part.slice(eq + 1).trim() || null;
    }
  }
  return null;
}
